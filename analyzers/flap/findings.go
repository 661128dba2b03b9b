package flap

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
)

// IsOwn reports whether prefix is one of own or inside one of them: the
// node's anycast prefixes, whose flapping is the operator's own problem.
func IsOwn(prefix netip.Prefix, own []netip.Prefix) bool {
	for _, o := range own {
		if o.Bits() <= prefix.Bits() && o.Contains(prefix.Addr()) {
			return true
		}
	}
	return false
}

// Findings turns the tracker's state at now into findings:
// bgp.prefix_dampened for every entry an upstream damping with this profile
// suppresses (with the time until reuse), and bgp.prefix_flapping for entries
// that flapped at least twice and whose penalty is above reuse, so one more
// flap may suppress them. Prefixes outside own are reported one severity
// lower: they are someone else's routes seen through our feed.
func (t *Tracker) Findings(now time.Time, own []netip.Prefix) []finding.Finding {
	var fs []finding.Finding
	p := t.profile
	for _, s := range t.Snapshot(now) {
		mine := IsOwn(s.Prefix, own)
		subject := fmt.Sprintf("%s from %s at %s", s.Prefix, s.Peer, s.Router)
		ev := map[string]any{
			"router":             s.Router,
			"peer":               s.Peer,
			"prefix":             s.Prefix.String(),
			"penalty":            round(s.Penalty),
			"flaps":              s.Flaps,
			"withdrawn":          s.Withdrawn,
			"profile":            p.Name,
			"suppress_threshold": p.SuppressThreshold,
			"reuse_threshold":    p.ReuseThreshold,
			"half_life_seconds":  p.HalfLife.Seconds(),
			"own_prefix":         mine,
			"last_event":         s.LastEvent,
		}
		var f finding.Finding
		switch {
		case s.Suppressed:
			ev["reuse_in_seconds"] = round(s.ReuseInSeconds)
			f = finding.New("bgp.prefix_dampened", subject,
				fmt.Sprintf("penalty %.0f is above the %s suppress threshold %.0f: upstreams damping with this profile ignore the route for another %s",
					s.Penalty, p.Name, p.SuppressThreshold, s.ReuseIn().Round(time.Second)),
				ev, s.LastEvent)
		case s.Flaps >= 2 && s.Penalty > p.ReuseThreshold:
			ev["headroom"] = round(p.SuppressThreshold - s.Penalty)
			f = finding.New("bgp.prefix_flapping", subject,
				fmt.Sprintf("%d flaps, penalty %.0f of the %s suppress threshold %.0f: %.0f more and upstreams suppress the route",
					s.Flaps, s.Penalty, p.Name, p.SuppressThreshold, p.SuppressThreshold-s.Penalty),
				ev, s.LastEvent)
		default:
			continue
		}
		if !mine && f.Severity > finding.Info {
			f = f.WithSeverity(f.Severity - 1)
		}
		fs = append(fs, f)
	}
	// The node's own prefixes first, then the rest; finding.Sort may reorder
	// by severity later, the evidence keeps own_prefix for the reader.
	sort.SliceStable(fs, func(i, j int) bool {
		return fs[i].Evidence["own_prefix"].(bool) && !fs[j].Evidence["own_prefix"].(bool)
	})
	return fs
}

// round keeps evidence readable: two decimals are enough for a penalty.
func round(v float64) float64 {
	return math.Round(v*100) / 100
}
