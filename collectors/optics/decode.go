package optics

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Decode turns an image into a Module with physical units. It fails on
// images too short or too inconsistent to decode; pages merely missing
// (not read, or absent from a dump) yield a Module with Notes instead.
func Decode(img *Image) (*Module, error) {
	if img == nil || len(img.Lower) < PageLen {
		n := 0
		if img != nil {
			n = len(img.Lower)
		}
		return nil, fmt.Errorf("optics: %w: lower page is %d bytes, want %d", ErrTruncated, n, PageLen)
	}
	for k, p := range img.Upper {
		if len(p) < PageLen {
			return nil, fmt.Errorf("optics: %w: page %02xh bank %d is %d bytes, want %d", ErrTruncated, k.Page, k.Bank, len(p), PageLen)
		}
	}
	id := img.Lower[0]
	switch family(id) {
	case SFF8472:
		return decodeSFF8472(img)
	case SFF8636:
		return decodeSFF8636(img)
	case CMIS:
		return decodeCMIS(img)
	}
	switch id {
	case 0x00:
		return nil, fmt.Errorf("optics: %w: identifier 0x00 (unspecified): the EEPROM is blank or the module is not seated", ErrCorrupt)
	case 0xff:
		return nil, fmt.Errorf("optics: %w: identifier 0xff: the EEPROM reads as erased (all ones)", ErrCorrupt)
	}
	return nil, fmt.Errorf("optics: %w: identifier 0x%02x (%s)", ErrUnsupported, id, identifierName(id))
}

// identifierName names an SFF-8024 identifier (Table 4-1).
func identifierName(id byte) string {
	switch id {
	case 0x01:
		return "GBIC"
	case 0x02:
		return "SFP soldered"
	case 0x03:
		return "SFP/SFP+/SFP28"
	case 0x0c:
		return "QSFP"
	case 0x0d:
		return "QSFP+"
	case 0x0e:
		return "CXP"
	case 0x11:
		return "QSFP28"
	case 0x12:
		return "CXP2"
	case 0x18:
		return "QSFP-DD"
	case 0x19:
		return "OSFP"
	case 0x1a:
		return "SFP-DD"
	case 0x1b:
		return "DSFP"
	case 0x1e:
		return "QSFP+ (CMIS)"
	case 0x1f:
		return "SFP-DD (CMIS)"
	case 0x20:
		return "SFP+ (CMIS)"
	}
	return "unknown"
}

// connectorName names an SFF-8024 connector code (Table 4-3).
func connectorName(c byte) string {
	switch c {
	case 0x00:
		return ""
	case 0x01:
		return "SC"
	case 0x07:
		return "LC"
	case 0x0b:
		return "optical pigtail"
	case 0x0c:
		return "MPO 1x12"
	case 0x0d:
		return "MPO 2x16"
	case 0x21:
		return "copper pigtail"
	case 0x22:
		return "RJ45"
	case 0x23:
		return "no separable connector"
	case 0x24:
		return "MXC 2x16"
	case 0x25:
		return "CS"
	case 0x26:
		return "SN"
	case 0x27:
		return "MPO 2x12"
	case 0x28:
		return "MPO 1x16"
	}
	return fmt.Sprintf("0x%02x", c)
}

// u16 reads a big-endian unsigned word; the memory maps put the MSB first.
func u16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }

// s16 reads a big-endian two's-complement word (temperatures).
func s16(b []byte, off int) int16 { return int16(binary.BigEndian.Uint16(b[off:])) }

// Raw-unit conversions shared by all three maps (SFF-8472 §9.2, SFF-8636
// §6.2.4, CMIS §8.2.5 and §8.9.4).
func tempC(raw int16) float64    { return float64(raw) / 256 }
func vccV(raw uint16) float64    { return float64(raw) / 10000 }
func biasMA(raw uint16) float64  { return float64(raw) * 2 / 1000 }
func powerMW(raw uint16) float64 { return float64(raw) / 10000 }

// dBm converts mW to dBm; 0 mW (or less, from an external calibration
// overshooting) is no light, reported as MinPowerDBm and true.
func dBm(mw float64) (float64, bool) {
	if mw <= 0 {
		return MinPowerDBm, true
	}
	return 10 * math.Log10(mw), false
}

// powerLimits returns power thresholds in mW and dBm.
func powerLimits(mw Limits) (Limits, Limits) {
	conv := func(v float64) float64 { d, _ := dBm(v); return d }
	return mw, Limits{HighAlarm: conv(mw.HighAlarm), LowAlarm: conv(mw.LowAlarm), HighWarning: conv(mw.HighWarning), LowWarning: conv(mw.LowWarning)}
}

// limits reads four consecutive words (high alarm, low alarm, high warning,
// low warning, the order of every map) through conv.
func limits(b []byte, off int, conv func(b []byte, off int) float64) Limits {
	return Limits{
		HighAlarm:   conv(b, off),
		LowAlarm:    conv(b, off+2),
		HighWarning: conv(b, off+4),
		LowWarning:  conv(b, off+6),
	}
}

func rawTemp(b []byte, off int) float64  { return tempC(s16(b, off)) }
func rawVcc(b []byte, off int) float64   { return vccV(u16(b, off)) }
func rawBias(b []byte, off int) float64  { return biasMA(u16(b, off)) }
func rawPower(b []byte, off int) float64 { return powerMW(u16(b, off)) }

// levels reads four flag bits of one quantity from byte v: high alarm,
// low alarm, high warning and low warning at bit positions ha, la, hw, lw.
func levels(v byte, ha, la, hw, lw uint) Levels {
	return Levels{
		HighAlarm:   v&(1<<ha) != 0,
		LowAlarm:    v&(1<<la) != 0,
		HighWarning: v&(1<<hw) != 0,
		LowWarning:  v&(1<<lw) != 0,
	}
}

// setPower fills a lane's power fields from mW values.
func (l *Lane) setPower(txMW, rxMW float64) {
	l.TxPowerMW, l.RxPowerMW = math.Max(txMW, 0), math.Max(rxMW, 0)
	l.TxPowerDBm, l.TxNoLight = dBm(txMW)
	l.RxPowerDBm, l.RxNoLight = dBm(rxMW)
}

// text decodes a space-padded ASCII field; bytes outside printable ASCII
// become '?', since a corrupt EEPROM must not smuggle control characters
// into a terminal or a log.
func text(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, strings.TrimRight(string(b), " \x00"))
}

func oui(b []byte) string { return fmt.Sprintf("%02x:%02x:%02x", b[0], b[1], b[2]) }

// checksum reports a note when the low byte of the sum of b differs from want.
func checksum(name string, b []byte, want byte) string {
	var sum byte
	for _, c := range b {
		sum += c
	}
	if sum == want {
		return ""
	}
	return fmt.Sprintf("%s checksum mismatch: stored 0x%02x, computed 0x%02x (identity fields may be corrupt)", name, want, sum)
}

func (m *Module) note(format string, a ...any) {
	m.Notes = append(m.Notes, fmt.Sprintf(format, a...))
}

func (m *Module) noteIf(s string) {
	if s != "" {
		m.Notes = append(m.Notes, s)
	}
}
