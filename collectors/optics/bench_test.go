package optics_test

import (
	"bytes"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
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
	benchDecode(b, eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: -7}}))
}

func BenchmarkDecodeSFPExternal(b *testing.B) {
	benchDecode(b, eepromgen.SFP(eepromgen.SFPValues{External: &eepromgen.ExternalCal{RxPwr: [5]float32{1, 0.1, 1e-6}, TSlope: 1, VSlope: 1, TxISlope: 1, TxPwrSlope: 1}}))
}

func BenchmarkDecodeQSFP28(b *testing.B) {
	benchDecode(b, eepromgen.QSFP28(eepromgen.QSFP28Values{}))
}

func BenchmarkDecodeCMIS(b *testing.B) {
	benchDecode(b, eepromgen.CMIS(eepromgen.CMISValues{Banks: 4}))
}

func BenchmarkParseDumpHex(b *testing.B) {
	var hex bytes.Buffer
	if err := eepromgen.WriteHex(&hex, eepromgen.QSFP28(eepromgen.QSFP28Values{})); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := optics.ParseDump(hex.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
