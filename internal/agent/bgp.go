package agent

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/anydiag/anydiag/analyzers/session"
	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/internal/config"
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
			now := a.now()
			set, peers, err := s.Observe(ctx, now)
			h.replace(set)
			if err != nil {
				return nil, err
			}
			return session.SpeakerFindings(now, session.FromSpeaker(peers), prefixes), nil
		}}
}

// hostOptions tells the host collector about the node's own speaker: the
// agent process is a BGP speaker when it embeds GoBGP, and its sessions may
// use ports other than 179.
func hostOptions(a *Agent, cfg *config.Config) host.Options {
	o := host.Options{Now: a.now}
	if g := cfg.Speaker.GoBGP; g != nil {
		o.SpeakerPIDs = []int{os.Getpid()}
		o.BGPPorts = g.Ports()
		if !slices.Contains(o.BGPPorts, 179) {
			// Other daemons on the node (bgpd, bird) still use 179.
			o.BGPPorts = append(o.BGPPorts, 179)
		}
	}
	return o
}
