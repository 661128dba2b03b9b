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

// Label values are escaped once, as the text format says: only backslash,
// double quote and line feed; a tab stays a tab (Go's %q would write \t,
// which the format has not, and escape an escaped value a second time).
func TestLabelsEscapeOnce(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"eth0", `eth0`},
		{"a\tb", "a\tb"},
		{`say "hi"`, `say \"hi\"`},
		{`C:\temp`, `C:\\temp`},
		{"two\nlines", `two\nlines`},
		{`\"`, `\\\"`},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"", ""},
	} {
		if got := Label(tc.in); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got, want := Name("anydiag_x", "a", `1"`, "b", "2"), `anydiag_x{a="1\"",b="2"}`; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if got := Name("anydiag_x"); got != "anydiag_x" {
		t.Errorf("Name without labels = %q", got)
	}
}

// Hostile hwmon or interface names (tab, quote, backslash, newline, invalid
// UTF-8) still give an exposition promtool accepts, and each becomes its own
// series (nothing is folded away by escaping).
func TestHostileLabelsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	Describe("anydiag_test_hostile_celsius", Gauge, "A temperature with hostile labels.")
	s := metrics.NewSet()
	values := []string{"tab\there", `quote"here`, `back\slash`, "new\nline", "bad\xffutf8", `\n literal`, "all\t\"\\\n"}
	for i, v := range values {
		s.NewGauge(Name("anydiag_test_hostile_celsius", "label", v), nil).Set(float64(i))
	}
	var buf bytes.Buffer
	if err := Write(&buf, false, s); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "anydiag_test_hostile_celsius{"); n != len(values) {
		t.Errorf("%d series, want %d:\n%s", n, len(values), out)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	if res, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(res)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, res, out)
	}
}
