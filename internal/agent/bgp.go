package agent

import (
	"context"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/speakers/gobgp"
)

// bgpSessionsTask exports the embedded speaker's own sessions (anydiag_bgp_*)
// and raises their findings: bgp.session_down with the NOTIFICATION decoded,
// bgp.family_not_carried for an anycast prefix no neighbor can carry.
func bgpSessionsTask(a *Agent, s *gobgp.Speaker, h *setHolder) Task {
	return Task{Name: "bgp", Interval: time.Second, Timeout: 5 * time.Second,
		Run: func(ctx context.Context) ([]finding.Finding, error) {
			var prefixes []netip.Prefix
			for _, p := range a.Config().Anycast.Prefixes {
				prefixes = append(prefixes, p.Prefix)
			}
			set, fs, err := s.Observe(ctx, a.now(), prefixes)
			h.replace(set)
			return fs, err
		}}
}
