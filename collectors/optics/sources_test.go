package optics_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/exporters/prometheus/promtest"
)

// Read decodes every good dump, names the bad ones in its error, and reads
// a dumped interface from the file only; Metrics exports what was read.
func TestReadFilesAndMetrics(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var raw, hex bytes.Buffer
	img := eepromgen.SFP(eepromgen.SFPValues{
		Identity: eepromgen.Identity{Vendor: `ACME "X"`, PartNumber: "P1", Serial: "S1"},
		Lane:     eepromgen.LaneValues{RxPowerDBm: -4, TxPowerDBm: -2, TxBiasMA: 30},
	})
	if err := eepromgen.WriteRaw(&raw, img); err != nil {
		t.Fatal(err)
	}
	if err := eepromgen.WriteHex(&hex, img); err != nil {
		t.Fatal(err)
	}
	src := optics.Sources{
		Files: map[string]string{
			"eth1": write("eth1.bin", raw.Bytes()),
			"eth2": write("eth2.hex", hex.Bytes()),
			"eth3": write("eth3.bin", []byte("not a dump")),
			"eth4": filepath.Join(dir, "missing.bin"),
		},
		// eth1 has a dump: the device, which does not exist here, is not read.
		Interfaces: []string{"eth1"},
	}
	mods, err := optics.Read(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "eth3: "+src.Files["eth3"]) || !strings.Contains(err.Error(), "eth4: open "+src.Files["eth4"]) {
		t.Errorf("error = %v, want one naming eth3 and eth4", err)
	}
	if strings.Contains(err.Error(), "eth1") {
		t.Errorf("eth1 was read from the device too: %v", err)
	}
	var got []string
	for _, m := range mods {
		got = append(got, m.Interface+"/"+m.Source)
	}
	if strings.Join(got, " ") != "eth1/file eth2/file" {
		t.Fatalf("modules = %v, want eth1 and eth2 from files", got)
	}

	out := promtest.Text(t, optics.Metrics(mods))
	for _, want := range []string{
		`anydiag_optics_info{interface="eth2",vendor="ACME \"X\"",part_number="P1",serial="S1"`,
		`anydiag_optics_tx_bias_amperes{interface="eth1",lane="1"} 0.03`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

// An interface that does not exist is an error when named, and a dump
// without an interface name is read as such.
func TestReadNamedInterfaceAndBareFile(t *testing.T) {
	if _, err := optics.Read(context.Background(), optics.Sources{Interfaces: []string{"nosuch0"}}); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("missing interface: err = %v", err)
	}
	var raw bytes.Buffer
	if err := eepromgen.WriteRaw(&raw, eepromgen.SFP(eepromgen.SFPValues{})); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.bin")
	if err := os.WriteFile(p, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mods, err := optics.Read(context.Background(), optics.Sources{Files: map[string]string{"": p}})
	if err != nil || len(mods) != 1 || mods[0].Interface != "" || mods[0].Source != "file" {
		t.Errorf("bare file: %+v, %v", mods, err)
	}
}
