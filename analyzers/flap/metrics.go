package flap

import (
	"net/netip"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
)

func init() {
	prometheus.Describe("anydiag_flap_penalty", prometheus.Gauge,
		"RFC 2439 figure of merit of a route seen over BMP, by dampening profile, router, peer and prefix, decayed to now.")
}

// Evaluate returns every tracker's findings at now (own names the node's
// prefixes, whose flaps are critical) and their penalties, decayed to now,
// as a fresh metric set that replaces the previous one: routes whose
// history expired lose their series.
func (s *Set) Evaluate(now time.Time, own []netip.Prefix) ([]finding.Finding, *metrics.Set) {
	var fs []finding.Finding
	set := metrics.NewSet()
	for _, t := range s.Trackers() {
		fs = append(fs, t.Findings(now, own)...)
		for _, st := range t.Snapshot(now) {
			set.GetOrCreateGauge(prometheus.Name("anydiag_flap_penalty", "profile", t.Profile().Name,
				"router", st.Router, "peer", st.Peer, "prefix", st.Prefix.String()), nil).Set(st.Penalty)
		}
	}
	return fs, set
}
