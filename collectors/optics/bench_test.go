package optics_test

import (
	"bytes"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromtest"
)

func benchDecode(b *testing.B, raw []byte) {
	img, err := optics.ParseFlat(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := optics.Decode(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSFP(b *testing.B) {
	benchDecode(b, eepromtest.SFP(eepromtest.SFPValues{Lane: eepromtest.LaneValues{RxPowerDBm: -7}}))
}

func BenchmarkDecodeSFPExternal(b *testing.B) {
	benchDecode(b, eepromtest.SFP(eepromtest.SFPValues{External: &eepromtest.ExternalCal{RxPwr: [5]float32{1, 0.1, 1e-6}, TSlope: 1, VSlope: 1, TxISlope: 1, TxPwrSlope: 1}}))
}

func BenchmarkDecodeQSFP28(b *testing.B) {
	benchDecode(b, eepromtest.QSFP28(eepromtest.QSFP28Values{}))
}

func BenchmarkDecodeCMIS(b *testing.B) {
	benchDecode(b, eepromtest.CMIS(eepromtest.CMISValues{Banks: 4}))
}

func BenchmarkParseDumpHex(b *testing.B) {
	var hex bytes.Buffer
	if err := eepromtest.WriteHex(&hex, eepromtest.QSFP28(eepromtest.QSFP28Values{})); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := optics.ParseDump(hex.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
