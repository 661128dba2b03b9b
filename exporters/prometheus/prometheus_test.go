package prometheus

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestWritePassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	s := metrics.NewSet()
	Describe("anydiag_test_events_total", Counter, "Events seen by the test.")
	Describe("anydiag_test_temperature_celsius", Gauge, "A temperature, with a \"quoted\" word.")
	Describe("anydiag_test_latency_seconds", Histogram, "Latency of the test operation.")
	s.NewCounter(`anydiag_test_events_total{kind="a"}`).Add(3)
	s.NewCounter(`anydiag_test_events_total{kind="b"}`).Inc()
	s.NewGauge(`anydiag_test_temperature_celsius{sensor="`+Label("cpu \"0\"\n")+`"}`, nil).Set(41.5)
	h := s.NewPrometheusHistogram(`anydiag_test_latency_seconds`)
	h.Update(0.2)
	other := metrics.NewSet()
	other.NewCounter(`anydiag_test_events_total{kind="c"}`).Inc()

	var buf bytes.Buffer
	if err := Write(&buf, true, s, other); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "# TYPE anydiag_test_events_total counter") != 1 {
		t.Errorf("family split across sets must be written once:\n%s", out)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, res, out)
	}
	if u := Undescribed(s, other); len(u) != 0 {
		t.Errorf("undescribed: %v", u)
	}
	bad := metrics.NewSet()
	bad.NewCounter("anydiag_test_nohelp_total").Inc()
	if u := Undescribed(bad); len(u) != 1 || u[0] != "anydiag_test_nohelp_total" {
		t.Errorf("Undescribed = %v", u)
	}
}

func TestDescribeConflictPanics(t *testing.T) {
	Describe("anydiag_test_conflict", Gauge, "one")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Describe("anydiag_test_conflict", Gauge, "two")
}
