package optics_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %v, want %v (±%v)", name, got, want, tol)
	}
}

func be16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }

func decode(t *testing.T, raw []byte) *optics.Module {
	t.Helper()
	img, err := optics.ParseDump(raw)
	if err != nil {
		t.Fatalf("ParseDump: %v", err)
	}
	m, err := optics.Decode(img)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Fatalf("module does not encode as JSON: %v", err)
	}
	return m
}

// sfpImage builds an SFF-8472 image byte by byte, with no help from
// eepromgen, so the decoder is checked against the spec's offsets alone.
func sfpImage(diag byte, a2 map[int][]byte) []byte {
	b := make([]byte, 512)
	b[0], b[2] = 0x03, 0x07
	copy(b[20:36], "ACME OPTICS     ")
	copy(b[40:56], "SFP-LR-X        ")
	copy(b[68:84], "SN0001          ")
	binary.BigEndian.PutUint16(b[60:], 1310)
	for i := range 63 {
		b[63] += b[i]
	}
	b[92], b[93] = diag, 0x80
	for i := 64; i < 95; i++ {
		b[95] += b[i]
	}
	for off, v := range a2 {
		copy(b[256+off:], v)
	}
	for i := range 95 {
		b[256+95] += b[256+i]
	}
	return b
}

func w16(v uint16) []byte  { return binary.BigEndian.AppendUint16(nil, v) }
func f32(v float32) []byte { return binary.BigEndian.AppendUint32(nil, math.Float32bits(v)) }

func TestDecodeSFPInternalCalibration(t *testing.T) {
	img := sfpImage(0x40|0x20|0x08, map[int][]byte{
		0:   w16(0x4b00),   // temp high alarm 75 °C
		2:   w16(0xfb00),   // temp low alarm -5 °C
		32:  w16(20000),    // Rx high alarm 2 mW
		34:  w16(100),      // Rx low alarm 0.01 mW = -20 dBm
		96:  w16(0xe780),   // -24.5 °C (two's complement)
		98:  w16(32950),    // 3.295 V
		100: w16(17512),    // 35.024 mA
		102: w16(5012),     // 0.5012 mW
		104: w16(0),        // no light
		110: {0x02},        // Rx LOS
		112: {0x40 | 0x08}, // temp low alarm, bias high alarm
		113: {0x40},        // Rx power low alarm
		116: {0x01},        // Tx power low warning
		117: {0x40},        // Rx power low warning
	})
	m := decode(t, img)
	if m.Standard != optics.SFF8472 || m.Calibration != "internal" || m.RxPowerType != "average" {
		t.Errorf("standard %q calibration %q rx type %q", m.Standard, m.Calibration, m.RxPowerType)
	}
	id := m.Identity
	if id.Vendor != "ACME OPTICS" || id.PartNumber != "SFP-LR-X" || id.Serial != "SN0001" || id.WavelengthNM != 1310 || id.Connector != "LC" || id.Type != "SFP/SFP+/SFP28" {
		t.Errorf("identity %+v", id)
	}
	if len(m.Notes) != 0 {
		t.Errorf("notes %q, want none (checksums are valid)", m.Notes)
	}
	near(t, "TempCelsius", m.TempCelsius, float64(int16(-0x1880))/256, 1e-9)
	near(t, "VccVolts", m.VccVolts, 32950*100e-6, 1e-9)
	if len(m.Lanes) != 1 {
		t.Fatalf("%d lanes, want 1", len(m.Lanes))
	}
	l := m.Lanes[0]
	near(t, "TxBiasMA", l.TxBiasMA, 17512*2e-3, 1e-9)
	near(t, "TxPowerMW", l.TxPowerMW, 5012*0.1e-3, 1e-12)
	near(t, "TxPowerDBm", l.TxPowerDBm, 10*math.Log10(0.5012), 1e-9)
	if !l.RxNoLight || l.RxPowerMW != 0 || l.RxPowerDBm != optics.MinPowerDBm {
		t.Errorf("Rx %v mW %v dBm no light %v, want 0 mW, %v dBm, no light", l.RxPowerMW, l.RxPowerDBm, l.RxNoLight, optics.MinPowerDBm)
	}
	th := m.Thresholds
	near(t, "temp high alarm", th.TempCelsius.HighAlarm, 75, 0)
	near(t, "temp low alarm", th.TempCelsius.LowAlarm, -5, 0)
	near(t, "Rx high alarm mW", th.RxPowerMW.HighAlarm, 2, 1e-12)
	near(t, "Rx low alarm dBm", th.RxPowerDBm.LowAlarm, -20, 1e-9)
	wantFlags := optics.Flags{Temp: optics.Levels{LowAlarm: true}}
	if *m.Flags != wantFlags {
		t.Errorf("module flags %+v, want %+v", *m.Flags, wantFlags)
	}
	wantLane := optics.LaneFlags{
		TxBias:  optics.Levels{HighAlarm: true},
		TxPower: optics.Levels{LowWarning: true},
		RxPower: optics.Levels{LowAlarm: true, LowWarning: true},
		RxLOS:   true,
	}
	if *l.Flags != wantLane {
		t.Errorf("lane flags %+v, want %+v", *l.Flags, wantLane)
	}
}

func TestDecodeSFPExternalCalibration(t *testing.T) {
	// Constants from a real externally calibrated module (the A2h dump in
	// sonic-platform-common issue #449), plus a quadratic term in the
	// second case, which ethtool's linear evaluation gets wrong.
	tests := []struct {
		name   string
		rx     [5]float32
		rxADC  uint16
		wantRx float64 // 0.1 µW, from the spec polynomial
	}{
		{"linear", [5]float32{-31.72, 0.0922}, 2608, -31.72 + 0.0922*2608},
		{"quadratic", [5]float32{5, 0.05, 2e-5}, 3000, 5 + 0.05*3000 + 2e-5*3000*3000},
		{"negative result is no light", [5]float32{-100, 0.01}, 50, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a2 := map[int][]byte{
				76: w16(471), 78: w16(0xfff6), // Tx_I slope 471/256, offset -10
				80: w16(128), 82: w16(20), // Tx_PWR slope 0.5, offset 20
				84: w16(256), 86: w16(0xff00), // T slope 1, offset -256 (-1 °C)
				88: w16(260), 90: w16(0), // V slope 260/256
				96: w16(0x2000), 98: w16(32500), 100: w16(9000), 102: w16(9472), 104: w16(tc.rxADC),
				34: w16(tc.rxADC), // Rx low alarm threshold, stored as A/D too
			}
			for i, c := range tc.rx {
				a2[56+4*(4-i)] = f32(c)
			}
			m := decode(t, sfpImage(0x40|0x10|0x08, a2))
			if m.Calibration != "external" {
				t.Fatalf("calibration %q, want external", m.Calibration)
			}
			near(t, "TempCelsius", m.TempCelsius, (0x2000*1.0-256)/256, 1e-9)
			near(t, "VccVolts", m.VccVolts, 260.0/256*32500*100e-6, 1e-9)
			l := m.Lanes[0]
			near(t, "TxBiasMA", l.TxBiasMA, (471.0/256*9000-10)*2e-3, 1e-9)
			near(t, "TxPowerMW", l.TxPowerMW, (0.5*9472+20)*0.1e-3, 1e-9)
			// float32 constants: compare with the polynomial in float32 precision.
			near(t, "RxPowerMW", l.RxPowerMW, math.Max(tc.wantRx, 0)*1e-4, 1e-7)
			near(t, "Rx low alarm", m.Thresholds.RxPowerMW.LowAlarm, l.RxPowerMW, 1e-12)
			if tc.wantRx <= 0 && !l.RxNoLight {
				t.Errorf("RxNoLight false for a polynomial below 0")
			}
			if tc.rx[2] != 0 {
				adc := float64(tc.rxADC)
				linear := (float64(tc.rx[0]) + adc*float64(tc.rx[1]) + adc*float64(tc.rx[2]) + adc*float64(tc.rx[3])) * 1e-4
				if math.Abs(linear-l.RxPowerMW) < 1e-3 {
					t.Errorf("decoded %v mW matches ethtool's linear evaluation %v mW; the spec polynomial differs", l.RxPowerMW, linear)
				}
			}
		})
	}
}

func TestDecodeSFPBuilder(t *testing.T) {
	// The image the demo feeds the collector: Rx below its alarm threshold.
	raw := eepromgen.SFP(eepromgen.SFPValues{
		Identity:    eepromgen.Identity{Vendor: "FLEXOPTIX", PartNumber: "P.1396.10", Serial: "F7ABC12"},
		TempCelsius: 41.5, VccVolts: 3.28,
		Lane: eepromgen.LaneValues{TxBiasMA: 36.2, TxPowerDBm: -1.5, RxPowerDBm: -25},
	})
	m := decode(t, raw)
	a2 := raw[256:]
	l := m.Lanes[0]
	near(t, "TempCelsius", m.TempCelsius, float64(int16(be16(a2, 96)))/256, 0)
	near(t, "RxPowerMW (spec)", l.RxPowerMW, float64(be16(a2, 104))/10000, 0)
	near(t, "RxPowerDBm (input)", l.RxPowerDBm, -25, 0.15)
	near(t, "TxPowerDBm (input)", l.TxPowerDBm, -1.5, 0.01)
	near(t, "TxBiasMA (input)", l.TxBiasMA, 36.2, 0.002)
	near(t, "Rx low alarm (LR)", m.Thresholds.RxPowerDBm.LowAlarm, -20, 0.01)
	if !l.Flags.RxPower.LowAlarm || !l.Flags.RxPower.LowWarning || l.Flags.RxPower.HighAlarm {
		t.Errorf("Rx flags %+v, want low alarm and low warning", l.Flags.RxPower)
	}
	if m.Identity.Vendor != "FLEXOPTIX" || m.Identity.Serial != "F7ABC12" {
		t.Errorf("identity %+v", m.Identity)
	}

	ext := eepromgen.SFP(eepromgen.SFPValues{
		TempCelsius: 30, VccVolts: 3.3,
		Lane:     eepromgen.LaneValues{TxBiasMA: 40, TxPowerDBm: -2, RxPowerDBm: -16.8},
		External: &eepromgen.ExternalCal{RxPwr: [5]float32{-31.72, 0.0922, 1e-6}, TxISlope: 1.8398, TxPwrSlope: 0.5, TSlope: 1, VSlope: 1.0156},
	})
	me := decode(t, ext)
	near(t, "external RxPowerDBm", me.Lanes[0].RxPowerDBm, -16.8, 0.05)
	near(t, "external TxBiasMA", me.Lanes[0].TxBiasMA, 40, 0.01)
	near(t, "external VccVolts", me.VccVolts, 3.3, 0.001)
}

func TestDecodeQSFP28(t *testing.T) {
	lanes := [4]eepromgen.LaneValues{
		{TxBiasMA: 34.4, TxPowerDBm: 1.2, RxPowerDBm: -2.37},
		{TxBiasMA: 35.1, TxPowerDBm: 0.8, RxPowerDBm: -1.05},
		{TxBiasMA: 33.9, TxPowerDBm: 1.0, RxPowerDBm: -23},
		{TxBiasMA: 34.0, TxPowerDBm: 0.9, RxNoLight: true},
	}
	raw := eepromgen.QSFP28(eepromgen.QSFP28Values{TempCelsius: 28.59, VccVolts: 3.3209, Lanes: lanes})
	m := decode(t, raw)
	if m.Standard != optics.SFF8636 || m.Identity.Type != "QSFP28" || m.Identity.WavelengthNM != 1310 {
		t.Errorf("standard %q identity %+v", m.Standard, m.Identity)
	}
	if len(m.Lanes) != 4 {
		t.Fatalf("%d lanes", len(m.Lanes))
	}
	near(t, "VccVolts", m.VccVolts, float64(be16(raw, 26))/10000, 0)
	for i, l := range m.Lanes {
		near(t, "RxPowerMW", l.RxPowerMW, float64(be16(raw, 34+2*i))/10000, 0)
		near(t, "TxBiasMA", l.TxBiasMA, float64(be16(raw, 42+2*i))*0.002, 1e-12)
		near(t, "TxPowerMW", l.TxPowerMW, float64(be16(raw, 50+2*i))/10000, 0)
		near(t, "TxBiasMA input", l.TxBiasMA, lanes[i].TxBiasMA, 0.002)
		if !lanes[i].RxNoLight {
			near(t, "RxPowerDBm input", l.RxPowerDBm, lanes[i].RxPowerDBm, 0.05)
		}
	}
	if !m.Lanes[3].RxNoLight || !m.Lanes[3].Flags.RxLOS {
		t.Errorf("lane 4: no light %v, LOS %v; want both", m.Lanes[3].RxNoLight, m.Lanes[3].Flags.RxLOS)
	}
	if got := m.Lanes[2].Flags.RxPower; !got.LowAlarm || !got.LowWarning || got.HighAlarm {
		t.Errorf("lane 3 Rx flags %+v, want low alarm and warning", got)
	}
	if m.Lanes[0].Flags.RxPower.Any() || m.Lanes[1].Flags.RxPower.Any() {
		t.Errorf("lanes 1-2 Rx flags set: %+v %+v", m.Lanes[0].Flags.RxPower, m.Lanes[1].Flags.RxPower)
	}
	p3 := raw[512:]
	near(t, "Rx high alarm", m.Thresholds.RxPowerMW.HighAlarm, float64(be16(p3, 176-128))/10000, 0)
	near(t, "bias low warning", m.Thresholds.TxBiasMA.LowWarning, float64(be16(p3, 190-128))*0.002, 1e-12)
	near(t, "temp high alarm", m.Thresholds.TempCelsius.HighAlarm, 75, 0)

	flat := decode(t, eepromgen.QSFP28(eepromgen.QSFP28Values{FlatMem: true, Lanes: lanes}))
	if flat.Thresholds != nil || len(flat.Lanes) != 4 || !strings.Contains(strings.Join(flat.Notes, ";"), "flat memory") {
		t.Errorf("flat module: thresholds %v, %d lanes, notes %q", flat.Thresholds, len(flat.Lanes), flat.Notes)
	}
}

func TestDecodeCMISBanks(t *testing.T) {
	var lanes []eepromgen.LaneValues
	for i := range 12 {
		lanes = append(lanes, eepromgen.LaneValues{TxBiasMA: 140 + float64(i), TxPowerDBm: 2, RxPowerDBm: -3 - float64(i)})
	}
	raw := eepromgen.CMIS(eepromgen.CMISValues{TempCelsius: 47.72, VccVolts: 3.3055, Banks: 2, TxBiasMultiplier: 2, Lanes: lanes})
	m := decode(t, raw)
	if m.Standard != optics.CMIS || m.Identity.Type != "QSFP-DD" || m.TxBiasMultiplier != 2 {
		t.Errorf("standard %q type %q multiplier %d", m.Standard, m.Identity.Type, m.TxBiasMultiplier)
	}
	if len(m.Lanes) != 16 {
		t.Fatalf("%d lanes, want 16 (2 banks of 8)", len(m.Lanes))
	}
	near(t, "TempCelsius", m.TempCelsius, float64(int16(be16(raw, 14)))/256, 0)
	// Page 11h of bank 1 sits at 128 + 128·(256 + 0x11).
	bank1 := raw[128+128*(256+0x11)-128:]
	l9 := m.Lanes[8]
	if l9.Lane != 9 {
		t.Errorf("lane index %d, want 9", l9.Lane)
	}
	near(t, "lane 9 bias (2 µA × multiplier)", l9.TxBiasMA, float64(be16(bank1, 170))*0.002*2, 1e-12)
	near(t, "lane 9 bias input", l9.TxBiasMA, 148, 0.004)
	near(t, "lane 9 Rx", l9.RxPowerMW, float64(be16(bank1, 186))/10000, 0)
	near(t, "lane 12 RxPowerDBm input", m.Lanes[11].RxPowerDBm, -14, 0.05)
	if !m.Lanes[15].RxNoLight || !m.Lanes[15].Flags.RxLOS {
		t.Errorf("lane 16 (dark) no light %v LOS %v", m.Lanes[15].RxNoLight, m.Lanes[15].Flags.RxLOS)
	}
	if !m.Lanes[0].Flags.TxBias.HighAlarm {
		t.Errorf("lane 1 bias 140 mA against a 90 mA alarm: flags %+v", m.Lanes[0].Flags.TxBias)
	}
	near(t, "bias high alarm threshold", m.Thresholds.TxBiasMA.HighAlarm, 90, 0.004)
	near(t, "wavelength", m.Identity.WavelengthNM, 1310, 0)

	// A single-bank module advertises its media lane count (a 4-lane LR4).
	lr4 := decode(t, eepromgen.CMIS(eepromgen.CMISValues{Lanes: lanes[:4]}))
	if len(lr4.Lanes) != 4 || lr4.TxBiasMultiplier != 1 {
		t.Errorf("LR4: %d lanes, multiplier %d; want 4 and 1", len(lr4.Lanes), lr4.TxBiasMultiplier)
	}

	// The legacy ioctl flattens only the lower page and page 00h.
	short := decode(t, raw[:256])
	if len(short.Lanes) != 0 || short.Thresholds != nil || len(short.Notes) == 0 {
		t.Errorf("256-byte CMIS: %d lanes, thresholds %v, notes %q", len(short.Lanes), short.Thresholds, short.Notes)
	}
}

func TestDecodeErrors(t *testing.T) {
	sfp := eepromgen.SFP(eepromgen.SFPValues{})
	qsfp := eepromgen.QSFP28(eepromgen.QSFP28Values{})
	cmis := eepromgen.CMIS(eepromgen.CMISValues{})
	mod := func(b []byte, f func(b []byte)) []byte { c := bytes.Clone(b); f(c); return c }
	tests := []struct {
		name string
		raw  []byte
		is   error
		msg  string
	}{
		{"empty", nil, optics.ErrTruncated, "0 bytes"},
		{"shorter than a page", sfp[:100], optics.ErrTruncated, "100 bytes"},
		{"SFP cut inside A0h", sfp[:200], optics.ErrTruncated, "A0h alone is 256"},
		{"SFP cut inside A2h", sfp[:300], optics.ErrTruncated, "A2h needs 256 more"},
		{"QSFP cut mid-page", qsfp[:300], optics.ErrTruncated, "not a whole number"},
		{"blank EEPROM", make([]byte, 256), optics.ErrCorrupt, "blank"},
		{"erased EEPROM", bytes.Repeat([]byte{0xff}, 256), optics.ErrCorrupt, "erased"},
		{"CXP", mod(qsfp, func(b []byte) { b[0] = 0x0e }), optics.ErrUnsupported, "CXP"},
		{"reserved CMIS bank code", mod(cmis, func(b []byte) { b[128+128+142-128] = 3 }), optics.ErrCorrupt, "reserved bank code"},
		{"NaN calibration", mod(sfp, func(b []byte) { b[92] = 0x50; copy(b[256+68:], f32(float32(math.NaN()))) }), optics.ErrCorrupt, "Rx_PWR(1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := optics.ParseDump(tc.raw)
			if err == nil {
				_, err = optics.Decode(img)
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %v mentioning %q", err, tc.is, tc.msg)
			}
		})
	}
}

func TestDecodeNotes(t *testing.T) {
	sfp := eepromgen.SFP(eepromgen.SFPValues{})
	badSum := bytes.Clone(sfp)
	badSum[25] ^= 0x20 // a vendor-name byte, not counted in the stored CC_BASE
	noDDM := bytes.Clone(sfp)
	noDDM[92] = 0
	tests := []struct {
		name  string
		raw   []byte
		note  string
		lanes int
	}{
		{"checksum mismatch", badSum, "CC_BASE", 1},
		{"no diagnostics", noDDM, "no diagnostics", 0},
		{"SFF-8079 dump (no A2h)", sfp[:256], "A2h (diagnostics) is not in the image", 0},
		{"CMIS flat memory", eepromgen.CMIS(eepromgen.CMISValues{Flat: true}), "flat memory", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := decode(t, tc.raw)
			if !strings.Contains(strings.Join(m.Notes, "\n"), tc.note) || len(m.Lanes) != tc.lanes {
				t.Errorf("notes %q, %d lanes; want a note with %q and %d lanes", m.Notes, len(m.Lanes), tc.note, tc.lanes)
			}
		})
	}
}

func TestParseDumpFormats(t *testing.T) {
	for name, raw := range map[string][]byte{
		"SFP":    eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: -7}}),
		"QSFP28": eepromgen.QSFP28(eepromgen.QSFP28Values{}),
		"CMIS":   eepromgen.CMIS(eepromgen.CMISValues{Banks: 4}),
	} {
		t.Run(name, func(t *testing.T) {
			var hex bytes.Buffer
			if err := eepromgen.WriteHex(&hex, raw); err != nil {
				t.Fatal(err)
			}
			fromHex, err := optics.ParseDump(hex.Bytes())
			if err != nil {
				t.Fatalf("hex: %v", err)
			}
			fromRaw, err := optics.ParseDump(raw)
			if err != nil {
				t.Fatalf("raw: %v", err)
			}
			if !bytes.Equal(fromHex.Flat(), raw) || !bytes.Equal(fromRaw.Flat(), raw) {
				t.Errorf("Flat() of the parsed dump differs from the dump")
			}
		})
	}
	bad := []struct{ name, text, msg string }{
		{"gap", "Offset\t\tValues\n------\t\t------\n0x0010:\t\t03 04\n", "expected 0x0"},
		{"bad byte", "0x0000:\t\t03 zz\n", "byte \"zz\""},
		{"no colon", "0x0000 03 04\n", "want \"0xOFFSET: bytes\""},
		{"header only", "Offset\t\tValues\n------\t\t------\n", "no bytes"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := optics.ParseDump([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}
