package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/internal/finding"
)

// An optic whose receive power fell below its alarm threshold, read from an
// `ethtool -m raw on` dump, becomes metrics and an optics.rx_power_low finding.
func TestAgentOpticsFromEEPROMDump(t *testing.T) {
	img := eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: -25, TxPowerDBm: -1, TxBiasMA: 30}})
	var raw bytes.Buffer
	if err := eepromgen.WriteRaw(&raw, img); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(t.TempDir(), "eth9.bin")
	if err := os.WriteFile(dump, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "node: {name: test1}\nanycast: {prefixes: [192.0.2.1/32]}\n" +
		"collectors:\n  optics: {enabled: true, interval: 50ms, eeprom_files: {eth9: " + dump + "}}\n"
	_, base, stop := startAgent(t, cfg)
	defer stop()
	var fs []finding.Finding
	waitFor(t, "the optics finding", func() bool {
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/findings")), &fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Code == "optics.rx_power_low" && strings.Contains(f.Subject, "eth9") {
				return true
			}
		}
		return false
	})
	m := get(t, base+"/metrics")
	if !strings.Contains(m, `anydiag_optics_rx_power_dbm{interface="eth9",lane="1"} -24.9`) {
		t.Errorf("rx power metric missing:\n%s", m)
	}
}

// A module that fails to read does not hide the others: the optics task
// exports and judges what it read and reports the failure as
// collector.failed.
func TestAgentOpticsPartialRead(t *testing.T) {
	var raw bytes.Buffer
	if err := eepromgen.WriteRaw(&raw, eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: -3, TxPowerDBm: -1, TxBiasMA: 30}})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "eth9.bin")
	if err := os.WriteFile(good, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "node: {name: test1}\nanycast: {prefixes: [192.0.2.1/32]}\n" +
		"collectors:\n  optics: {enabled: true, interval: 50ms, eeprom_files: {eth9: " + good + ", eth8: " + filepath.Join(dir, "missing.bin") + "}}\n"
	_, base, stop := startAgent(t, cfg)
	defer stop()
	waitFor(t, "the optics failure and the good module's metrics", func() bool {
		var fs []finding.Finding
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/findings")), &fs); err != nil {
			t.Fatal(err)
		}
		failed := false
		for _, f := range fs {
			failed = failed || (f.Code == "collector.failed" && f.Subject == "collector optics" && strings.Contains(f.Summary, "eth8"))
		}
		return failed && strings.Contains(get(t, base+"/metrics"), `anydiag_optics_rx_power_dbm{interface="eth9",lane="1"} -`)
	})
}
