package gobgpctl

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	api "github.com/osrg/gobgp/v3/api"

	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/speakers"
)

func init() {
	d := prometheus.Describe
	d("anydiag_bgp_session_up", prometheus.Gauge, "1 if the session of the node's own speaker with the neighbor is Established and has negotiated the address family, else 0; by neighbor, peer AS and family.")
	d("anydiag_bgp_session_state", prometheus.Gauge, "1 for the FSM state the session of the node's own speaker with the neighbor is in (Idle, Connect, Active, OpenSent, OpenConfirm, Established), 0 for the others.")
	d("anydiag_bgp_session_uptime_seconds", prometheus.Gauge, "How long the session of the node's own speaker has been Established, in seconds (0 when it is not).")
	d("anydiag_bgp_prefixes_advertised", prometheus.Gauge, "Prefixes the node's own speaker advertises to the neighbor, by family.")
	d("anydiag_bgp_prefixes_accepted", prometheus.Gauge, "Prefixes received from the neighbor and accepted by import policy, by family.")
	d("anydiag_bgp_prefixes_received", prometheus.Gauge, "Prefixes received from the neighbor, by family.")
	d("anydiag_bgp_session_last_error_info", prometheus.Gauge, "Always 1, labelled with why the session of the node's own speaker last left Established (the NOTIFICATION decoded); absent if it never went down.")
	d("anydiag_bgp_session_last_down_timestamp_seconds", prometheus.Gauge, "When the session of the node's own speaker last left Established, in seconds since the Unix epoch.")
}

// fsmStates are the FSM states, each a series of anydiag_bgp_session_state.
var fsmStates = []string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

// Metrics converts a Peers snapshot, taken at now, to the anydiag_bgp_*
// families.
func Metrics(peers []PeerState, now time.Time) *metrics.Set {
	set := metrics.NewSet()
	for _, p := range peers {
		asn := strconv.FormatUint(uint64(p.ASN), 10)
		id := prometheus.Labels("neighbor", p.Address, "peer_as", asn)
		for _, st := range fsmStates {
			v := 0.0
			if p.State == st {
				v = 1
			}
			set.GetOrCreateGauge(`anydiag_bgp_session_state{`+id+`,`+prometheus.Labels("state", st)+`}`, nil).Set(v)
		}
		up := 0.0
		if p.Established() && !p.Since.IsZero() {
			up = max(0, now.Sub(p.Since).Seconds())
		}
		set.GetOrCreateGauge(`anydiag_bgp_session_uptime_seconds{`+id+`}`, nil).Set(up)
		for _, f := range p.PerFamily {
			fid := id + "," + prometheus.Labels("family", f.Family)
			v := 0.0
			if f.Negotiated {
				v = 1
			}
			set.GetOrCreateGauge(`anydiag_bgp_session_up{`+fid+`}`, nil).Set(v)
			set.GetOrCreateGauge(`anydiag_bgp_prefixes_advertised{`+fid+`}`, nil).Set(float64(f.Advertised))
			set.GetOrCreateGauge(`anydiag_bgp_prefixes_accepted{`+fid+`}`, nil).Set(float64(f.Accepted))
			set.GetOrCreateGauge(`anydiag_bgp_prefixes_received{`+fid+`}`, nil).Set(float64(f.Received))
		}
		if d := p.LastDown; d != nil {
			set.GetOrCreateGauge(`anydiag_bgp_session_last_error_info{`+id+`,`+prometheus.Labels("error", p.LastError)+`}`, nil).Set(1)
			if !d.Time.IsZero() {
				set.GetOrCreateGauge(`anydiag_bgp_session_last_down_timestamp_seconds{`+id+`}`, nil).Set(float64(d.Time.UnixNano()) / 1e9)
			}
		}
	}
	return set
}

// gobgpReason matches the "Reason" GoBGP v3 logs with "Peer Down"
// (fsmStateReason.String): "notification-received code 6(cease) subcode
// 2(administrative shutdown)", "hold-timer-expired", "read-failed", ...
var gobgpReason = regexp.MustCompile(`^(notification-sent|notification-received) code (\d{1,3})\([^)]*\) subcode (\d{1,3})\(`)

// ParsePeerDownReason decodes GoBGP's Peer Down reason text into the BMP
// Peer Down reason and the NOTIFICATION, so analyzers/session names and
// advises on it as it does for BMP. Text it does not know is ReasonUnknown.
func ParsePeerDownReason(s string) (bgpnames.PeerDownReason, *bgpnames.Notification) {
	if m := gobgpReason.FindStringSubmatch(s); m != nil {
		code, err1 := strconv.ParseUint(m[2], 10, 8)
		sub, err2 := strconv.ParseUint(m[3], 10, 8)
		if err1 != nil || err2 != nil {
			return bgpnames.PeerDownUnknown, nil
		}
		r := bgpnames.PeerDownLocalNotification
		if m[1] == "notification-received" {
			r = bgpnames.PeerDownRemoteNotification
		}
		return r, &bgpnames.Notification{Code: uint8(code), Subcode: uint8(sub)}
	}
	switch s {
	case "hold-timer-expired":
		return bgpnames.PeerDownLocalNotification, &bgpnames.Notification{Code: bgpnames.CodeHoldTimer}
	case "read-failed", "write-failed":
		return bgpnames.PeerDownRemoteNoNotification, nil
	case "admin-down":
		return bgpnames.PeerDownLocalNoNotification, nil
	case "dying":
		return bgpnames.PeerDownDeconfigured, nil
	}
	return bgpnames.PeerDownUnknown, nil
}

// DescribeDown says in one line why a session went down.
func DescribeDown(d speakers.PeerDown) string {
	if n := d.Notification; n != nil {
		if d.Reason == bgpnames.PeerDownRemoteNotification {
			return "the peer sent " + n.String()
		}
		return "this speaker sent " + n.String()
	}
	return d.Reason.String()
}

// Advertised reports whether prefix is advertised to at least one
// Established neighbor that negotiated its family: the locally originated
// path is in the Loc-RIB and such a neighbor exists (see Sessions for why
// this stands for the Adj-RIB-Out). ok is false when the server cannot be
// asked.
func (c *Controller) Advertised(ctx context.Context, prefix netip.Prefix) (advertised bool, ok bool) {
	if CheckPrefix(prefix) != nil {
		return false, false
	}
	held, err := c.originated(ctx, []netip.Prefix{prefix})
	if err != nil {
		return false, false
	}
	if !held[prefix] {
		return false, true
	}
	var peers []*api.Peer
	if err := c.api.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) { peers = append(peers, p) }); err != nil {
		return false, false
	}
	fam := familyKey(Family(prefix))
	for _, p := range peers {
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED && negotiated(p)[fam] {
			return true, true
		}
	}
	return false, true
}

// originated reports which of prefixes have the locally originated path in
// the Loc-RIB; exact lookups, cheap whatever the table size.
func (c *Controller) originated(ctx context.Context, prefixes []netip.Prefix) (map[netip.Prefix]bool, error) {
	out := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		paths, err := c.lookup(ctx, api.TableType_GLOBAL, "", p)
		if err != nil {
			return nil, fmt.Errorf("read Loc-RIB: %w", err)
		}
		out[p] = slices.ContainsFunc(paths, isLocal)
	}
	return out, nil
}

// Sessions is Peers for a server whose export policy sends nothing but the
// prefixes it originates (the embedded speaker's): a prefix counts as
// advertised to every Established neighbor that negotiated its family while
// its local path is in the Loc-RIB, since GoBGP sends the best path to each
// such neighbor and a local path wins (Announce and Withdraw confirm it in
// each Adj-RIB-Out). It avoids GoBGP's own Adj-RIB-Out, which is rebuilt
// from the whole RIB for every neighbor on each read: with 50 000 routes
// from an upstream, GoBGP's count takes about half a second, Sessions a few
// milliseconds (speakers/gobgp BenchmarkReceivedTable).
func (c *Controller) Sessions(ctx context.Context) ([]PeerState, error) {
	var raw []*api.Peer
	if err := c.api.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) { raw = append(raw, p) }); err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	var mine []netip.Prefix
	for p := range c.Announced() {
		mine = append(mine, p)
	}
	held, err := c.originated(ctx, mine)
	if err != nil {
		return nil, err
	}
	out := make([]PeerState, 0, len(raw))
	for _, p := range raw {
		st := c.peerState(p)
		st.Advertised = 0
		for i := range st.PerFamily {
			f := &st.PerFamily[i]
			f.Advertised = 0
			if !f.Negotiated {
				continue
			}
			for prefix, ok := range held {
				if ok && familyKey(Family(prefix)) == f.Family {
					f.Advertised++
				}
			}
			st.Advertised += f.Advertised
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PeerState) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}
