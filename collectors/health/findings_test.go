package health

import (
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
)

func TestFindings(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		state State
		code  string // "" for no finding
	}{
		{"up", State{Check: "web", Type: "http", Status: StatusUp, Since: since}, ""},
		{"unknown", State{Check: "web", Type: "http", Status: StatusUnknown, Since: since}, ""},
		{"down", State{Check: "web", Type: "http", Status: StatusDown, Since: since, Failures: 2,
			Last: Result{Error: "connection refused", Latency: time.Millisecond}}, "health.check_failing"},
		{"exhausted wins over the streak", State{Check: "web", Type: "http", Status: StatusDown, Since: since,
			Last: Result{Error: "too many open files", Exhausted: true}}, "health.resource_exhausted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Findings([]State{tt.state})
			if tt.code == "" {
				if len(fs) != 0 {
					t.Fatalf("findings = %+v, want none", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("findings = %+v, want one %s", fs, tt.code)
			}
			f := fs[0]
			if f.Code != tt.code || f.Subject != "check web" || !f.Since.Equal(since) || f.Severity != finding.Critical {
				t.Errorf("finding = %+v", f)
			}
			if _, ok := finding.Lookup(f.Code); !ok {
				t.Errorf("%s is not in the catalogue", f.Code)
			}
		})
	}
}
