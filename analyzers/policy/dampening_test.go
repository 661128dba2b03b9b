package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func TestDampeningConfigCheck(t *testing.T) {
	tests := []struct {
		name     string
		cfg      DampeningConfig
		errors   int
		contains string
	}{
		{name: "disabled", cfg: DampeningConfig{}},
		{name: "cisco", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5}},
		{name: "unknown profile", cfg: DampeningConfig{Profile: "arista", MaxFraction: 0.5}, errors: 1, contains: "unknown profile"},
		{name: "fraction", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 1.5}, errors: 1, contains: "max_fraction"},
		{name: "suppress_threshold", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, SuppressThreshold: 6000}},
		// The former name still works, with a warning that is not an error.
		{name: "former name", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, Suppress: 6000}, contains: "now called suppress_threshold"},
		{name: "both names", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, Suppress: 6000, SuppressThreshold: 6000}, errors: 1, contains: "give only suppress_threshold"},
		// Cisco's ceiling is 750 × 2^(60/15) = 12000: an upstream suppressing
		// above it never suppresses anything, so the model would be wrong.
		{name: "above the ceiling", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, SuppressThreshold: 13000}, errors: 1, contains: "ceiling 12000"},
		// Juniper re-announces with 1000: 0.3 × 3000 = 900 never allows one.
		{name: "no re-announce possible", cfg: DampeningConfig{Profile: "juniper", MaxFraction: 0.3}, errors: 1, contains: "does not exceed the re-announce penalty 1000"},
		{name: "short half-life", cfg: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, HalfLife: yamlconf.Duration(time.Second)}, errors: 1, contains: "shorter than any router"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p yamlconf.Problems
			tc.cfg.check(&p, "policy.self_dampening")
			msg := fmt.Sprint(p.Err())
			if p.Len() != tc.errors || (tc.contains != "" && !strings.Contains(msg, tc.contains)) {
				t.Fatalf("%d errors (%s), want %d containing %q", p.Len(), msg, tc.errors, tc.contains)
			}
		})
	}
}

func TestSelfDampeningModel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := DampeningConfig{Profile: "cisco", MaxFraction: 0.5, Suppress: 6000, HalfLife: yamlconf.Duration(30 * time.Minute)}.model()
	// Overrides: suppress 6000 (former key), half-life 30 min; the rest is Cisco's.
	if m.SuppressThreshold != 6000 || m.HalfLife != 30*time.Minute || m.WithdrawalPenalty != 1000 || m.limit() != 3000 {
		t.Fatalf("model %+v", m)
	}
	// One half-life after a 1000 withdrawal: 500; plus a second: 1500.
	p := m.add(Penalty{}, t0, m.WithdrawalPenalty)
	p = m.add(p, t0.Add(30*time.Minute), m.WithdrawalPenalty)
	if p.Value != 1500 || !p.At.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("penalty %+v, want 1500", p)
	}
	// The ceiling is 750 × 2^(60/30) = 3000: twenty withdrawals at once stop there,
	// as the upstream stops counting there.
	for i := 0; i < 20; i++ {
		p = m.add(p, p.At, m.WithdrawalPenalty)
	}
	if p.Value != 3000 {
		t.Fatalf("penalty %v, want the ceiling 3000", p.Value)
	}
	// A re-announce (Cisco: +0) is allowed once 3000 has decayed to the
	// limit 3000: right away. With max_fraction 0.25 (limit 1500) it waits
	// one half-life: 30 min.
	if w := m.announceWait(p, p.At); w != 0 {
		t.Fatalf("wait %s, want 0", w)
	}
	m.MaxFraction = 0.25
	if w := m.announceWait(p, p.At); w != 30*time.Minute {
		t.Fatalf("wait %s, want 30m", w)
	}
	// Disabled, the penalty only decays (a state file from a configuration
	// that had self-dampening on).
	var off selfDampening
	if q := off.add(Penalty{Value: 800, At: t0}, t0.Add(time.Minute), 1000); q.Value != 0 || math.IsNaN(q.Value) {
		t.Fatalf("disabled: %+v", q)
	}
	if q := off.add(Penalty{Value: 800, At: t0}, t0, 1000); q.Value != 800 {
		t.Fatalf("disabled, no time passed: %+v", q)
	}
}
