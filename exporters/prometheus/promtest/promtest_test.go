package promtest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

// recorder stops at Fatalf, as testing.T does, and keeps the message.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()    {}
func (r *recorder) Log(...any) {}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	panic(r)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func run(sets ...*metrics.Set) (out, failed string) {
	r := &recorder{}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	defer func() { failed = r.failed }()
	return Text(r, sets...), ""
}

func init() {
	prometheus.Describe("anydiag_promtest_good_total", prometheus.Counter, "A counter named as promtool wants.")
	prometheus.Describe("anydiag_promtest_bad", prometheus.Counter, "A counter without the _total suffix.")
}

func TestText(t *testing.T) {
	good := metrics.NewSet()
	good.NewCounter(prometheus.Name("anydiag_promtest_good_total", "x", "a\tb")).Inc()
	if out, failed := run(good); failed != "" || !strings.Contains(out, "# HELP anydiag_promtest_good_total") {
		t.Errorf("good set: failed %q, text %q", failed, out)
	}
	undescribed := metrics.NewSet()
	undescribed.NewCounter("anydiag_promtest_nohelp_total").Inc()
	if _, failed := run(undescribed); !strings.Contains(failed, "anydiag_promtest_nohelp_total") {
		t.Errorf("undescribed family not reported: %q", failed)
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	bad := metrics.NewSet()
	bad.NewCounter("anydiag_promtest_bad").Inc()
	if _, failed := run(bad); !strings.Contains(failed, "promtool check metrics") {
		t.Errorf("promtool's complaint not reported: %q", failed)
	}
}
