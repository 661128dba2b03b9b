package optics

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SFF-8472 offsets: A0h is Image.Lower, A2h is Image.A2.
const (
	a0Connector   = 2
	a0Transceiver = 8 // byte 8 bits 2-3: passive/active SFP+ cable
	a0Vendor      = 20
	a0OUI         = 37
	a0PartNumber  = 40
	a0Revision    = 56
	a0Wavelength  = 60
	a0CCBase      = 63
	a0Serial      = 68
	a0DateCode    = 84
	a0DiagType    = 92
	a0Enhanced    = 93
	a0CCExt       = 95

	a2Thresholds = 0
	a2RxPwr4     = 56
	a2TxISlope   = 76
	a2TxPSlope   = 80
	a2TSlope     = 84
	a2VSlope     = 88
	a2CCDMI      = 95
	a2Temp       = 96
	a2Vcc        = 98
	a2Bias       = 100
	a2TxPower    = 102
	a2RxPower    = 104
	a2Status     = 110
	a2Alarms     = 112
	a2Warnings   = 116
)

// A0h byte 92 (diagnostic monitoring type) and 93 (enhanced options).
const (
	diagImplemented   = 1 << 6
	diagInternalCal   = 1 << 5
	diagExternalCal   = 1 << 4
	diagRxAverage     = 1 << 3
	diagAddressChange = 1 << 2
	enhancedAWFlags   = 1 << 7
)

// calibration converts SFF-8472 A/D values to the map's native units
// (1/256 °C, 100 µV, 2 µA, 0.1 µW). Internal calibration is the identity.
type calibration struct {
	rx                 [5]float64 // Rx_PWR(0)..Rx_PWR(4)
	biasSlope, biasOff float64
	txSlope, txOff     float64
	tempSlope, tempOff float64
	vccSlope, vccOff   float64
	external           bool
}

var internalCal = calibration{rx: [5]float64{0, 1}, biasSlope: 1, txSlope: 1, tempSlope: 1, vccSlope: 1}

// externalCal reads SFF-8472 §9.3 Table 9-6: Rx power as IEEE-754 single
// floats (Rx_PWR(4) first), the others as an unsigned 8.8 fixed-point slope
// and a signed 16-bit offset.
func externalCal(a2 []byte) (calibration, error) {
	c := calibration{external: true}
	for i := range 5 {
		off := a2RxPwr4 + 4*(4-i)
		f := math.Float32frombits(binary.BigEndian.Uint32(a2[off:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return c, fmt.Errorf("optics: %w: SFF-8472 external calibration Rx_PWR(%d) at A2h byte %d is %v", ErrCorrupt, i, off, f)
		}
		c.rx[i] = float64(f)
	}
	pair := func(off int) (float64, float64) {
		return float64(u16(a2, off)) / 256, float64(s16(a2, off+2))
	}
	c.biasSlope, c.biasOff = pair(a2TxISlope)
	c.txSlope, c.txOff = pair(a2TxPSlope)
	c.tempSlope, c.tempOff = pair(a2TSlope)
	c.vccSlope, c.vccOff = pair(a2VSlope)
	return c, nil
}

func (c *calibration) temp(b []byte, off int) float64 {
	return (c.tempSlope*float64(s16(b, off)) + c.tempOff) / 256
}
func (c *calibration) vcc(b []byte, off int) float64 {
	return (c.vccSlope*float64(u16(b, off)) + c.vccOff) / 10000
}
func (c *calibration) bias(b []byte, off int) float64 {
	return math.Max(c.biasSlope*float64(u16(b, off))+c.biasOff, 0) * 2 / 1000
}
func (c *calibration) txPower(b []byte, off int) float64 {
	return math.Max(c.txSlope*float64(u16(b, off))+c.txOff, 0) / 10000
}

// rxPower evaluates the spec's fourth-order polynomial
// Σ Rx_PWR(i)·ADC^i (Horner form), in 0.1 µW, then converts to mW. ethtool
// multiplies every coefficient by ADC itself (linear), which is wrong
// whenever Rx_PWR(2..4) are not zero.
func (c *calibration) rxPower(b []byte, off int) float64 {
	adc := float64(u16(b, off))
	v := 0.0
	for i := 4; i >= 0; i-- {
		v = v*adc + c.rx[i]
	}
	return math.Max(v, 0) / 10000
}

func decodeSFF8472(img *Image) (*Module, error) {
	a0 := img.Lower
	m := &Module{
		Standard:         SFF8472,
		TxBiasMultiplier: 1,
		Lanes:            []Lane{},
		Identity: Identity{
			Identifier: a0[0],
			Type:       identifierName(a0[0]),
			Connector:  connectorName(a0[a0Connector]),
			Vendor:     text(a0[a0Vendor : a0Vendor+16]),
			VendorOUI:  oui(a0[a0OUI:]),
			PartNumber: text(a0[a0PartNumber : a0PartNumber+16]),
			Revision:   text(a0[a0Revision : a0Revision+4]),
			Serial:     text(a0[a0Serial : a0Serial+16]),
			DateCode:   text(a0[a0DateCode : a0DateCode+8]),
		},
	}
	// Bytes 60-61 hold the cable compliance instead of a wavelength on
	// passive and active SFP+ cables.
	if a0[a0Transceiver]&0x0c == 0 {
		m.Identity.WavelengthNM = float64(u16(a0, a0Wavelength))
	}
	m.noteIf(checksum("A0h CC_BASE (bytes 0-62)", a0[:a0CCBase], a0[a0CCBase]))
	m.noteIf(checksum("A0h CC_EXT (bytes 64-94)", a0[64:a0CCExt], a0[a0CCExt]))

	diag := a0[a0DiagType]
	if diag&diagImplemented == 0 {
		m.note("the module implements no diagnostics (A0h byte 92 bit 6 clear)")
		return m, nil
	}
	if diag&diagAddressChange != 0 {
		m.note("the module requires an address-change sequence before A2h can be read (A0h byte 92 bit 2); values may be stale")
	}
	if img.A2 == nil {
		m.note("A2h (diagnostics) is not in the image: only identity decoded")
		return m, nil
	}
	if len(img.A2) < PageLen {
		return nil, fmt.Errorf("optics: %w: A2h is %d bytes, want %d", ErrTruncated, len(img.A2), PageLen)
	}
	a2 := img.A2
	m.Monitors = Monitors{Temp: true, Vcc: true, TxBias: true, TxPower: true, RxPower: true}
	m.RxPowerType = "OMA"
	if diag&diagRxAverage != 0 {
		m.RxPowerType = "average"
	}
	cal := internalCal
	m.Calibration = "internal"
	if diag&diagExternalCal != 0 {
		var err error
		if cal, err = externalCal(a2); err != nil {
			return nil, err
		}
		m.Calibration = "external"
	} else if diag&diagInternalCal == 0 {
		m.note("A0h byte 92 claims neither internal nor external calibration: decoded as internal")
	}
	m.noteIf(checksum("A2h CC_DMI (bytes 0-94)", a2[:a2CCDMI], a2[a2CCDMI]))

	m.TempCelsius = cal.temp(a2, a2Temp)
	m.VccVolts = cal.vcc(a2, a2Vcc)
	lane := Lane{Lane: 1, TxBiasMA: cal.bias(a2, a2Bias)}
	lane.setPower(cal.txPower(a2, a2TxPower), cal.rxPower(a2, a2RxPower))

	// The thresholds are stored in A/D form too, so the same calibration
	// applies (SFF-8472 §9.3).
	th := &Thresholds{
		TempCelsius: limits(a2, a2Thresholds, cal.temp),
		VccVolts:    limits(a2, a2Thresholds+8, cal.vcc),
		TxBiasMA:    limits(a2, a2Thresholds+16, cal.bias),
	}
	th.TxPowerMW, th.TxPowerDBm = powerLimits(limits(a2, a2Thresholds+24, cal.txPower))
	th.RxPowerMW, th.RxPowerDBm = powerLimits(limits(a2, a2Thresholds+32, cal.rxPower))
	m.Thresholds = th

	if a0[a0Enhanced]&enhancedAWFlags != 0 {
		al, al2, wa, wa2 := a2[a2Alarms], a2[a2Alarms+1], a2[a2Warnings], a2[a2Warnings+1]
		m.Flags = &Flags{
			Temp: Levels{HighAlarm: al&0x80 != 0, LowAlarm: al&0x40 != 0, HighWarning: wa&0x80 != 0, LowWarning: wa&0x40 != 0},
			Vcc:  Levels{HighAlarm: al&0x20 != 0, LowAlarm: al&0x10 != 0, HighWarning: wa&0x20 != 0, LowWarning: wa&0x10 != 0},
		}
		st := a2[a2Status]
		lane.Flags = &LaneFlags{
			TxBias:  Levels{HighAlarm: al&0x08 != 0, LowAlarm: al&0x04 != 0, HighWarning: wa&0x08 != 0, LowWarning: wa&0x04 != 0},
			TxPower: Levels{HighAlarm: al&0x02 != 0, LowAlarm: al&0x01 != 0, HighWarning: wa&0x02 != 0, LowWarning: wa&0x01 != 0},
			RxPower: Levels{HighAlarm: al2&0x80 != 0, LowAlarm: al2&0x40 != 0, HighWarning: wa2&0x80 != 0, LowWarning: wa2&0x40 != 0},
			TxFault: st&0x04 != 0,
			RxLOS:   st&0x02 != 0,
		}
	}
	m.Lanes = append(m.Lanes, lane)
	return m, nil
}
