package flap

import (
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/exporters/prometheus/promtest"
)

// Evaluate exports one penalty series per profile and route, and the
// trackers' findings, at the time asked.
func TestEvaluate(t *testing.T) {
	s, err := NewSet(dampening.Cisco, dampening.Juniper)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []Kind{Announce, Withdraw, Announce, Withdraw, Announce, Withdraw, Announce, Withdraw} {
		if err := s.Observe(Event{Time: t0.Add(time.Duration(i) * 10 * time.Second), Router: "203.0.113.1", Peer: "198.51.100.2", Prefix: anyPfx, Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	fs, set := s.Evaluate(t0.Add(80*time.Second), nil)
	out := promtest.Text(t, set)
	for _, p := range []string{"cisco", "juniper"} {
		want := `anydiag_flap_penalty{profile="` + p + `",router="203.0.113.1",peer="198.51.100.2",prefix="` + anyPfx.String() + `"} `
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	// Four withdrawals in 80 s suppress the route under both profiles.
	if len(fs) == 0 {
		t.Error("no findings for a route withdrawn four times in 80 s")
	}
}
