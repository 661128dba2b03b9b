package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/thresholds"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
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

// A collector wired as the package doc says — a read, an export and a
// judge in one sampled entry — gets its set replaced on every run, judge
// sees the previous sample, and a failed read exports and judges nothing
// unless the collector returns partial samples.
func TestSampledTask(t *testing.T) {
	type sample struct{ n int }
	for _, partial := range []bool{false, true} {
		c := &part{}
		an := &lockedAnalyzer{a: thresholds.New(thresholds.DefaultLimits(), time.Now)}
		reads := []struct {
			s   sample
			err error
		}{{sample{1}, nil}, {sample{2}, errors.New("one device failed")}, {sample{3}, nil}}
		run := 0
		var judged []string
		task := sampled[sample]{name: "fake", every: yamlconf.Duration(time.Second), partial: partial,
			read: func(context.Context) (sample, error) { r := reads[run]; run++; return r.s, r.err },
			export: func(s sample) *metrics.Set {
				set := metrics.NewSet()
				set.NewGauge(prometheus.Name("anydiag_fake", "n", fmt.Sprint(s.n)), nil).Set(1)
				return set
			},
			judge: func(_ *thresholds.Analyzer, prev *sample, cur sample) []finding.Finding {
				p := 0
				if prev != nil {
					p = prev.n
				}
				judged = append(judged, fmt.Sprintf("%d->%d", p, cur.n))
				return []finding.Finding{finding.New("link.down", fmt.Sprint(cur.n), "x", nil, time.Time{})}
			}}.bind(c, an)()
		if task.Name != "fake" || task.Interval != time.Second || task.Timeout != time.Second {
			t.Fatalf("task %+v", task)
		}
		var errs int
		for range reads {
			fs, err := task.Run(context.Background())
			if err != nil {
				errs++
				if !partial && len(fs) != 0 {
					t.Errorf("a failed read judged: %v", fs)
				}
			}
		}
		want := "0->1 1->3"
		if partial {
			want = "0->1 1->2 2->3"
		}
		if got := strings.Join(judged, " "); got != want || errs != 1 {
			t.Errorf("partial=%v: judged %q, want %q (%d errors)", partial, got, want, errs)
		}
		var b bytes.Buffer
		c.sets[0].current().WritePrometheus(&b)
		if got := strings.TrimSpace(b.String()); got != `anydiag_fake{n="3"} 1` {
			t.Errorf("partial=%v: set after the last run = %q, want only n=3", partial, got)
		}
	}
}

// A collector whose samples are only judged (host facts) has no export;
// its verdict set follows the findings of the last judged run and a
// failed read leaves it as it was.
func TestSampledVerdict(t *testing.T) {
	c := &part{}
	an := &lockedAnalyzer{a: thresholds.New(thresholds.DefaultLimits(), time.Now)}
	reads := []struct {
		missing int
		err     error
	}{{0, nil}, {2, nil}, {0, errors.New("proc unreadable")}}
	run := 0
	task := sampled[int]{name: "host", every: yamlconf.Duration(time.Minute),
		read: func(context.Context) (int, error) { r := reads[run]; run++; return r.missing, r.err },
		judge: func(_ *thresholds.Analyzer, _ *int, missing int) (fs []finding.Finding) {
			for i := range missing {
				fs = append(fs, finding.New("host.sysctl", fmt.Sprint(i), "x", nil, time.Time{}))
			}
			return fs
		},
		verdict: thresholds.PrerequisiteMetrics}.bind(c, an)()
	if len(c.sets) != 1 {
		t.Fatalf("%d sets, want the verdict's only", len(c.sets))
	}
	var got []string
	for range reads {
		fs, err := task.Run(context.Background())
		var b bytes.Buffer
		c.sets[0].current().WritePrometheus(&b)
		got = append(got, fmt.Sprintf("%d findings, err %v: %s", len(fs), err != nil, strings.TrimSpace(b.String())))
	}
	want := []string{
		"0 findings, err false: anydiag_host_prerequisite_ok 1",
		"2 findings, err false: anydiag_host_prerequisite_ok 0",
		"0 findings, err true: anydiag_host_prerequisite_ok 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
