package optics_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
)

// checkDecode is the property every fuzzer checks: Decode never panics,
// and what it returns is a module JSON can carry (no NaN, no Inf).
func checkDecode(t *testing.T, img *optics.Image) {
	m, err := optics.Decode(img)
	if err != nil {
		return
	}
	if _, err := json.Marshal(m); err != nil {
		t.Fatalf("decoded module does not marshal: %v", err)
	}
}

// fuzzFamily fuzzes one decoder: byte 0 is forced to the family's
// identifier so every input reaches that decoder.
func fuzzFamily(f *testing.F, id byte, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 {
			b[0] = id
		}
		img, err := optics.ParseFlat(b)
		if err != nil {
			return
		}
		checkDecode(t, img)
	})
}

func FuzzDecodeSFF8472(f *testing.F) {
	fuzzFamily(f, 0x03,
		eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: -25}}),
		eepromgen.SFP(eepromgen.SFPValues{External: &eepromgen.ExternalCal{RxPwr: [5]float32{1, 0.1}, TSlope: 1, VSlope: 1, TxISlope: 1, TxPwrSlope: 1}}),
		sfpImage(0x58, nil))
}

func FuzzDecodeSFF8636(f *testing.F) {
	fuzzFamily(f, 0x11,
		eepromgen.QSFP28(eepromgen.QSFP28Values{}),
		eepromgen.QSFP28(eepromgen.QSFP28Values{FlatMem: true}))
}

func FuzzDecodeCMIS(f *testing.F) {
	fuzzFamily(f, 0x18,
		eepromgen.CMIS(eepromgen.CMISValues{Banks: 2, TxBiasMultiplier: 4}),
		eepromgen.CMIS(eepromgen.CMISValues{Flat: true}))
}

func FuzzParseDump(f *testing.F) {
	var hex bytes.Buffer
	_ = eepromgen.WriteHex(&hex, eepromgen.QSFP28(eepromgen.QSFP28Values{}))
	f.Add(hex.Bytes())
	f.Add([]byte("Offset\t\tValues\n------\t\t------\n0x0000:\t\t03 04 07\n"))
	f.Add(eepromgen.SFP(eepromgen.SFPValues{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := optics.ParseDump(b)
		if err != nil {
			return
		}
		checkDecode(t, img)
	})
}
