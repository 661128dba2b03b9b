package bmp

import (
	"fmt"
	"io"
	"sort"

	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

// WriteMetrics writes the station's metrics in the Prometheus text format,
// each family with its HELP and TYPE lines. New registers it on
// Config.Metrics; a caller may also mount it directly.
func (s *Station) WriteMetrics(w io.Writer) {
	routers := s.routerList()

	family(w, "anydiag_bmp_routers_connected")
	n := 0
	for _, r := range routers {
		if r.connected.Load() {
			n++
		}
	}
	fmt.Fprintf(w, "anydiag_bmp_routers_connected %d\n", n)

	family(w, "anydiag_bmp_messages_total")
	for _, r := range routers {
		for t := range r.msgs {
			name := "unknown"
			if t < wire.NumMsgTypes {
				name = wire.MsgType(t).String()
			}
			fmt.Fprintf(w, "anydiag_bmp_messages_total{router=%s,type=%s} %d\n", q(r.addr), q(name), r.msgs[t].Load())
		}
	}

	perRouter := []struct {
		name string
		get  func(*router) uint64
	}{
		{"anydiag_bmp_addpath_missing_total", func(r *router) uint64 { return r.addPathMissing.Load() }},
		{"anydiag_bmp_addpath_unexpected_total", func(r *router) uint64 { return r.addPathExtra.Load() }},
		{"anydiag_bmp_malformed_updates_total", func(r *router) uint64 { return r.malformed.Load() }},
		{"anydiag_bmp_skipped_families_total", func(r *router) uint64 { return r.otherFamilies.Load() }},
		{"anydiag_bmp_mirrored_messages_total", func(r *router) uint64 { return r.mirrored.Load() }},
	}
	for _, m := range perRouter {
		family(w, m.name)
		for _, r := range routers {
			fmt.Fprintf(w, "%s{router=%s} %d\n", m.name, q(r.addr), m.get(r))
		}
	}

	family(w, "anydiag_bmp_routes")
	var statLines, upLines []string
	for _, r := range routers {
		r.mu.RLock()
		for _, p := range r.sortedPeers() {
			upLines = append(upLines, fmt.Sprintf("anydiag_bmp_peer_up{router=%s,peer=%s,peer_as=\"%d\"} %d\n",
				q(r.addr), q(p.key.addr.String()), p.as, b2i(p.up)))
			for t, tb := range p.tables {
				if tb != nil {
					fmt.Fprintf(w, "anydiag_bmp_routes{router=%s,peer=%s,table=%s} %d\n", q(r.addr), q(p.key.addr.String()), q(wire.Table(t).String()), tb.len())
				}
			}
			for k, st := range p.stats {
				fam := ""
				if st.Family != nil {
					fam = k.family.String()
				}
				statLines = append(statLines, fmt.Sprintf("anydiag_bmp_peer_statistic{router=%s,peer=%s,stat=%s,family=%s} %d\n",
					q(r.addr), q(p.key.addr.String()), q(st.Name()), q(fam), st.Value))
			}
		}
		r.mu.RUnlock()
	}
	family(w, "anydiag_bmp_peer_up")
	for _, l := range upLines {
		io.WriteString(w, l)
	}
	family(w, "anydiag_bmp_peer_statistic")
	sort.Strings(statLines)
	for _, l := range statLines {
		io.WriteString(w, l)
	}

	family(w, "anydiag_bmp_sessions_closed_total")
	s.closedMu.Lock()
	reasons := make([]string, 0, len(s.closed))
	for k := range s.closed {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(w, "anydiag_bmp_sessions_closed_total{reason=%s} %d\n", q(k), s.closed[k])
	}
	s.closedMu.Unlock()

	family(w, "anydiag_bmp_routers")
	fmt.Fprintf(w, "anydiag_bmp_routers %d\n", len(routers))

	family(w, "anydiag_bmp_limit_hits_total")
	hits := s.hits.totals()
	for _, name := range limitNames {
		fmt.Fprintf(w, "anydiag_bmp_limit_hits_total{limit=%s} %d\n", q(name), hits[name])
	}

	family(w, "anydiag_bmp_expired_total")
	fmt.Fprintf(w, "anydiag_bmp_expired_total{what=\"router\"} %d\n", s.expiredRouters.Load())
	fmt.Fprintf(w, "anydiag_bmp_expired_total{what=\"peer\"} %d\n", s.expiredPeers.Load())

	family(w, "anydiag_bmp_api_slow_clients_total")
	fmt.Fprintf(w, "anydiag_bmp_api_slow_clients_total %d\n", s.apiSlow.Load())
	family(w, "anydiag_bmp_api_busy_total")
	fmt.Fprintf(w, "anydiag_bmp_api_busy_total %d\n", s.apiBusy.Load())

	family(w, "anydiag_bmp_events_dropped_total")
	fmt.Fprintf(w, "anydiag_bmp_events_dropped_total %d\n", s.hub.dropped.Load())

	sets, bytes := s.intern.stats()
	family(w, "anydiag_bmp_attribute_sets")
	fmt.Fprintf(w, "anydiag_bmp_attribute_sets %d\n", sets)
	family(w, "anydiag_bmp_attribute_set_bytes")
	fmt.Fprintf(w, "anydiag_bmp_attribute_set_bytes %d\n", bytes)
}

func family(w io.Writer, name string) {
	f := metricFamilies[name]
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, f.help, name, f.typ)
}

// metricFamilies are the station's metric families, described once here so
// that the exporter registry (and the dashboards' tests) know them.
var metricFamilies = map[string]struct {
	typ  prometheus.Type
	help string
}{
	"anydiag_bmp_peer_up":                  {prometheus.Gauge, "1 if the monitored BGP session is up (Peer Up seen), 0 after a Peer Down, by router, peer and peer AS."},
	"anydiag_bmp_routers_connected":        {prometheus.Gauge, "BMP router sessions currently open."},
	"anydiag_bmp_messages_total":           {prometheus.Counter, "BMP messages received, by router and message type, since the router's session began."},
	"anydiag_bmp_routes":                   {prometheus.Gauge, "Routes currently held, by router, monitored peer and table."},
	"anydiag_bmp_peer_statistic":           {prometheus.Gauge, "Last value of each RFC 7854/8671 statistic a router reported for a peer (counters and gauges alike, as the router sent them)."},
	"anydiag_bmp_sessions_closed_total":    {prometheus.Counter, "Router sessions closed, by reason: eof, termination, replaced, shutdown, read_error, bad_message, a framing error (short_length, bad_version, too_large, truncated), or a limit (max_routers, idle_timeout, no_initiation)."},
	"anydiag_bmp_events_dropped_total":     {prometheus.Counter, "Events not delivered because a subscriber's buffer was full."},
	"anydiag_bmp_routers":                  {prometheus.Gauge, "Router entries held, connected or disconnected and not yet expired (bounded by limits.max_routers)."},
	"anydiag_bmp_limit_hits_total":         {prometheus.Counter, "Times a station limit acted, by limit: connections refused (max_routers, max_connections_per_source, allow_routers, no_initiation), messages about peers dropped (max_peers_per_router), route announcements dropped (max_routes_per_peer, max_routes_per_router, one per route), sessions closed idle (idle_timeout)."},
	"anydiag_bmp_expired_total":            {prometheus.Counter, "Disconnected routers (what=router) and down peers (what=peer) removed after limits.router_ttl / limits.peer_ttl."},
	"anydiag_bmp_api_slow_clients_total":   {prometheus.Counter, "API answers cut off because the client did not read a chunk within limits.api_write_timeout."},
	"anydiag_bmp_api_busy_total":           {prometheus.Counter, "API requests answered 503 because limits.api_max_concurrent answers were being sent for longer than limits.api_write_timeout."},
	"anydiag_bmp_attribute_sets":           {prometheus.Gauge, "Distinct path attribute sets interned, shared by all routes that carry them."},
	"anydiag_bmp_attribute_set_bytes":      {prometheus.Gauge, "Bytes held by the interned attribute sets."},
	"anydiag_bmp_addpath_missing_total":    {prometheus.Counter, "Route monitoring messages whose NLRI lacked the ADD-PATH path IDs the Peer Up capabilities imply (GoBGP v3 post-policy and Loc-RIB do this); parsed without them."},
	"anydiag_bmp_addpath_unexpected_total": {prometheus.Counter, "Route monitoring messages whose NLRI carried path IDs the Peer Up capabilities did not announce; parsed with them."},
	"anydiag_bmp_malformed_updates_total":  {prometheus.Counter, "UPDATEs whose attributes were malformed or missing, whose NLRI were treated as withdrawn (RFC 7606)."},
	"anydiag_bmp_skipped_families_total":   {prometheus.Counter, "MP_REACH/MP_UNREACH attributes of address families the station does not keep (only IPv4 and IPv6 unicast are kept)."},
	"anydiag_bmp_mirrored_messages_total":  {prometheus.Counter, "BGP messages received in Route Mirroring messages (counted, not applied)."},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func init() {
	for name, f := range metricFamilies {
		prometheus.Describe(name, f.typ, f.help)
	}
}

// q quotes a label value as the exposition format wants, escaped once.
func q(s string) string { return `"` + prometheus.Label(s) + `"` }

// routerList returns the routers sorted by address.
func (s *Station) routerList() []*router {
	s.mu.RLock()
	rs := make([]*router, 0, len(s.routers))
	for _, r := range s.routers {
		rs = append(rs, r)
	}
	s.mu.RUnlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].addr < rs[j].addr })
	return rs
}
