// Package promtest checks, in a package's tests, that metric sets come out
// as Prometheus accepts them: every family described, and `promtool check
// metrics` silent (names, units, counter suffixes, escaping) when promtool
// is installed.
package promtest

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

// Text writes the sets as /metrics would (HELP and TYPE included), fails t
// on an undescribed family or a promtool complaint, and returns the text
// for the caller's own assertions. Without promtool it only logs that the
// lint was skipped.
func Text(t testing.TB, sets ...*metrics.Set) string {
	t.Helper()
	if u := prometheus.Undescribed(sets...); len(u) > 0 {
		t.Fatalf("families without prometheus.Describe: %v", u)
	}
	var b bytes.Buffer
	if err := prometheus.Write(&b, false, sets...); err != nil {
		t.Fatal(err)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (Debian package prometheus): lint skipped")
		return b.String()
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(b.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, b.String())
	}
	return b.String()
}
