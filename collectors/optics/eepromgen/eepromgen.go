// Package eepromgen generates realistic transceiver EEPROM images from
// physical values, for tests and demos: SFP (SFF-8472, internal or external
// calibration), QSFP28 (SFF-8636) and QSFP-DD (CMIS, with banks). The images
// carry the module's thresholds, the alarm and warning flags a module would
// raise for the given values, and valid checksums. WriteRaw and WriteHex
// write them in the formats of `ethtool -m X raw on` and `hex on`, which
// `anydiag optics --eeprom-file` reads.
package eepromgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/anydiag/anydiag/collectors/optics"
)

// Identity is the vendor data written into an image; empty fields get
// plausible defaults.
type Identity struct {
	// Vendor is the vendor name (16 characters at most).
	Vendor string
	// PartNumber is the vendor part number (16 characters at most).
	PartNumber string
	// Serial is the serial number (16 characters at most).
	Serial string
	// WavelengthNM is the nominal wavelength.
	WavelengthNM float64
}

// Thresholds are the module's alarm and warning limits, power in dBm.
type Thresholds struct {
	// TempCelsius limits the temperature.
	TempCelsius optics.Limits
	// VccVolts limits the supply voltage.
	VccVolts optics.Limits
	// TxBiasMA limits the bias current.
	TxBiasMA optics.Limits
	// TxPowerDBm limits the Tx power.
	TxPowerDBm optics.Limits
	// RxPowerDBm limits the Rx power.
	RxPowerDBm optics.Limits
}

// LR returns thresholds typical of a 10GBASE-LR or 100GBASE-LR4 module:
// Rx power low alarm at -20 dBm, low warning at -18 dBm.
func LR() Thresholds {
	return Thresholds{
		TempCelsius: optics.Limits{HighAlarm: 75, LowAlarm: -5, HighWarning: 70, LowWarning: 0},
		VccVolts:    optics.Limits{HighAlarm: 3.63, LowAlarm: 2.97, HighWarning: 3.465, LowWarning: 3.135},
		TxBiasMA:    optics.Limits{HighAlarm: 90, LowAlarm: 4, HighWarning: 80, LowWarning: 6},
		TxPowerDBm:  optics.Limits{HighAlarm: 3, LowAlarm: -11, HighWarning: 1, LowWarning: -9},
		RxPowerDBm:  optics.Limits{HighAlarm: 2, LowAlarm: -20, HighWarning: 0, LowWarning: -18},
	}
}

// LaneValues are one lane's physical values.
type LaneValues struct {
	// TxBiasMA is the bias current.
	TxBiasMA float64
	// TxPowerDBm is the Tx power (ignored when TxNoLight).
	TxPowerDBm float64
	// TxNoLight encodes a Tx power of exactly 0 mW.
	TxNoLight bool
	// RxPowerDBm is the Rx power (ignored when RxNoLight).
	RxPowerDBm float64
	// RxNoLight encodes an Rx power of exactly 0 mW (fiber unplugged).
	RxNoLight bool
}

// ExternalCal are SFF-8472 external calibration constants (§9.3): the
// image then stores A/D counts that these constants turn into values.
type ExternalCal struct {
	// RxPwr are Rx_PWR(0)..Rx_PWR(4): 0.1 µW = Σ RxPwr[i]·ADC^i. The
	// polynomial must increase over the counts the values need.
	RxPwr [5]float32
	// TxISlope and TxIOffset calibrate the bias (slope in 1/256 steps).
	TxISlope, TxIOffset float64
	// TxPwrSlope and TxPwrOffset calibrate the Tx power.
	TxPwrSlope, TxPwrOffset float64
	// TSlope and TOffset calibrate the temperature.
	TSlope, TOffset float64
	// VSlope and VOffset calibrate the supply voltage.
	VSlope, VOffset float64
}

// SFPValues describe an SFP+ module.
type SFPValues struct {
	// Identity is the vendor data.
	Identity Identity
	// TempCelsius is the module temperature.
	TempCelsius float64
	// VccVolts is the supply voltage.
	VccVolts float64
	// Lane holds the bias and powers.
	Lane LaneValues
	// Thresholds are the module's limits; nil means LR().
	Thresholds *Thresholds
	// External, when set, makes the module externally calibrated.
	External *ExternalCal
	// NoFlags clears A0h byte 93 bit 7: the module implements no
	// alarm/warning flags.
	NoFlags bool
}

// The raw encodings of SFF-8472 §9.2, shared by all three maps.
func rawTemp(c float64) float64 { return c * 256 }
func rawVcc(v float64) float64  { return v * 10000 }
func rawBias(ma float64) float64 {
	return ma * 500
}
func rawPower(dbm float64) float64 { return math.Pow(10, dbm/10) * 10000 }

// word rounds v into a 16-bit unsigned word, saturating.
func word(v float64) uint16 { return uint16(math.Max(0, math.Min(65535, math.Round(v)))) }

// sword rounds v into a 16-bit signed word, saturating.
func sword(v float64) uint16 { return uint16(int16(math.Max(-32768, math.Min(32767, math.Round(v))))) }

// power encodes a power, keeping it above 0 unless noLight asks for 0.
func power(dbm float64, noLight bool) uint16 {
	if noLight {
		return 0
	}
	return max(word(rawPower(dbm)), 1)
}

func put(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }

func putText(b []byte, off, n int, s string) {
	for i := range n {
		b[off+i] = ' '
		if i < len(s) {
			b[off+i] = s[i]
		}
	}
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func defaults(id Identity, vendor, pn string, nm float64) Identity {
	if id.Vendor == "" {
		id.Vendor = vendor
	}
	if id.PartNumber == "" {
		id.PartNumber = pn
	}
	if id.Serial == "" {
		id.Serial = "ADT" + fmt.Sprintf("%09d", 4242)
	}
	if id.WavelengthNM == 0 {
		id.WavelengthNM = nm
	}
	return id
}

// SFP returns the 512-byte SFF-8472 image (A0h then A2h) of the module v
// describes, as `ethtool -m X raw on` prints it.
func SFP(v SFPValues) []byte {
	th := LR()
	if v.Thresholds != nil {
		th = *v.Thresholds
	}
	id := defaults(v.Identity, "ANYDIAG", "SFP-10G-LR", 1310)
	b := make([]byte, 512)
	a0, a2 := b[:256], b[256:]
	a0[0], a0[1], a0[2] = 0x03, 0x04, 0x07 // SFP, SFP function defined by 2-wire ID, LC
	a0[3] = 0x20                           // 10GBASE-LR
	a0[12] = 0x67                          // 10.3 Gb/s
	putText(a0, 20, 16, id.Vendor)
	a0[37], a0[38], a0[39] = 0x00, 0x90, 0x65
	putText(a0, 40, 16, id.PartNumber)
	putText(a0, 56, 4, "A")
	put(a0, 60, word(id.WavelengthNM))
	a0[63] = sum(a0[:63])
	putText(a0, 68, 16, id.Serial)
	putText(a0, 84, 8, "260101")
	a0[92] = 0x40 | 0x08 // DDM, average Rx power
	if v.External != nil {
		a0[92] |= 0x10
	} else {
		a0[92] |= 0x20
	}
	if !v.NoFlags {
		a0[93] = 0x80
	}
	a0[94] = 0x08 // SFF-8472 rev 12.3
	a0[95] = sum(a0[64:95])

	cal := identityCal()
	if v.External != nil {
		cal = newCal(*v.External)
		e := v.External
		for i, f := range e.RxPwr {
			binary.BigEndian.PutUint32(a2[56+4*(4-i):], math.Float32bits(f))
		}
		pair := func(off int, slope, offset float64) {
			put(a2, off, word(slope*256))
			put(a2, off+2, sword(offset))
		}
		pair(76, e.TxISlope, e.TxIOffset)
		pair(80, e.TxPwrSlope, e.TxPwrOffset)
		pair(84, e.TSlope, e.TOffset)
		pair(88, e.VSlope, e.VOffset)
	}

	type q struct {
		lim    optics.Limits
		enc    func(float64) uint16
		value  uint16
		signed bool
	}
	lane := v.Lane
	qs := []q{
		{th.TempCelsius, func(c float64) uint16 { return cal.temp(rawTemp(c)) }, cal.temp(rawTemp(v.TempCelsius)), true},
		{th.VccVolts, func(x float64) uint16 { return cal.lin(rawVcc(x), cal.v) }, cal.lin(rawVcc(v.VccVolts), cal.v), false},
		{th.TxBiasMA, func(x float64) uint16 { return cal.lin(rawBias(x), cal.i) }, cal.lin(rawBias(lane.TxBiasMA), cal.i), false},
		{th.TxPowerDBm, func(x float64) uint16 { return cal.lin(float64(power(x, false)), cal.tx) }, cal.lin(float64(power(lane.TxPowerDBm, lane.TxNoLight)), cal.tx), false},
		{th.RxPowerDBm, func(x float64) uint16 { return cal.rxADC(float64(power(x, false))) }, cal.rxADC(float64(power(lane.RxPowerDBm, lane.RxNoLight))), false},
	}
	var fl [5][4]bool
	for i, q := range qs {
		num := func(w uint16) float64 {
			if q.signed {
				return float64(int16(w))
			}
			return float64(w)
		}
		ls := [4]uint16{q.enc(q.lim.HighAlarm), q.enc(q.lim.LowAlarm), q.enc(q.lim.HighWarning), q.enc(q.lim.LowWarning)}
		for j, l := range ls {
			put(a2, 8*i+2*j, l)
		}
		put(a2, 96+2*i, q.value)
		// A/D counts grow with the value for every calibration anydiag
		// builds, so comparing counts is comparing values.
		x := num(q.value)
		fl[i] = [4]bool{x > num(ls[0]), x < num(ls[1]), x > num(ls[2]), x < num(ls[3])}
	}
	a2[95] = sum(a2[:95])
	if lane.RxNoLight || lane.RxPowerDBm <= -30 {
		a2[110] |= 0x02 // Rx LOS
	}
	if !v.NoFlags {
		// Byte 112/116: temp, Vcc, bias, Tx power pairs from bit 7 down;
		// byte 113/117 bits 7-6: Rx power.
		for i := range 4 {
			setBit(a2, 112, 7-2*i, fl[i][0])
			setBit(a2, 112, 6-2*i, fl[i][1])
			setBit(a2, 116, 7-2*i, fl[i][2])
			setBit(a2, 116, 6-2*i, fl[i][3])
		}
		setBit(a2, 113, 7, fl[4][0])
		setBit(a2, 113, 6, fl[4][1])
		setBit(a2, 117, 7, fl[4][2])
		setBit(a2, 117, 6, fl[4][3])
	}
	return b
}

func setBit(b []byte, off int, bit int, on bool) {
	if on {
		b[off] |= 1 << bit
	}
}

// cal inverts an SFF-8472 calibration: native value to A/D count.
type cal struct {
	e        ExternalCal
	external bool
	i, tx, v [2]float64
}

func identityCal() cal { return cal{i: [2]float64{1, 0}, tx: [2]float64{1, 0}, v: [2]float64{1, 0}} }

// newCal quantises the slopes to the 8.8 fixed point the EEPROM stores,
// so the inverse matches what a decoder will compute.
func newCal(e ExternalCal) cal {
	q := func(s, o float64) [2]float64 { return [2]float64{math.Round(s*256) / 256, math.Round(o)} }
	return cal{e: e, external: true, i: q(e.TxISlope, e.TxIOffset), tx: q(e.TxPwrSlope, e.TxPwrOffset), v: q(e.VSlope, e.VOffset)}
}

func (c cal) lin(native float64, so [2]float64) uint16 {
	if so[0] == 0 {
		return 0
	}
	return word((native - so[1]) / so[0])
}

func (c cal) temp(native float64) uint16 {
	if !c.external {
		return sword(native)
	}
	s, o := math.Round(c.e.TSlope*256)/256, math.Round(c.e.TOffset)
	if s == 0 {
		return 0
	}
	return sword((native - o) / s)
}

// rxADC finds the A/D count whose polynomial value is nearest native
// (0.1 µW); a search, since a fourth-order polynomial has no handy inverse.
func (c cal) rxADC(native float64) uint16 {
	if !c.external {
		return word(native)
	}
	best, bestErr := 0, math.Inf(1)
	for adc := range 65536 {
		x, v := float64(adc), 0.0
		for i := 4; i >= 0; i-- {
			v = v*x + float64(c.e.RxPwr[i])
		}
		if d := math.Abs(v - native); d < bestErr {
			best, bestErr = adc, d
		}
	}
	return uint16(best)
}

// WriteRaw writes an image in the format of `ethtool -m X raw on`: the
// bytes themselves.
func WriteRaw(w io.Writer, img []byte) error {
	_, err := w.Write(img)
	return err
}

// WriteHex writes an image in the format of `ethtool -m X hex on`.
func WriteHex(w io.Writer, img []byte) error {
	out := []byte("Offset\t\tValues\n------\t\t------")
	for i, c := range img {
		if i%16 == 0 {
			out = fmt.Appendf(out, "\n0x%04x:\t\t", i)
		}
		out = fmt.Appendf(out, "%02x ", c)
	}
	out = append(out, '\n')
	_, err := w.Write(out)
	return err
}
