package session

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/speakers"
)

// Address families as the speakers name them.
const (
	FamilyIPv4Unicast = "ipv4-unicast"
	FamilyIPv6Unicast = "ipv6-unicast"
)

// FamilyOf is the address family that carries prefix.
func FamilyOf(prefix netip.Prefix) string {
	if prefix.Addr().Is4() {
		return FamilyIPv4Unicast
	}
	return FamilyIPv6Unicast
}

// Neighbor is one session of the node's own speaker, as the speaker itself
// reports it (not as a BMP station sees it).
type Neighbor struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// State is the FSM state: Idle, Connect, Active, OpenSent, OpenConfirm
	// or Established.
	State string `json:"state"`
	// AdminDown is true when this speaker shut the neighbor on purpose.
	AdminDown bool `json:"admin_down,omitempty"`
	// Configured are the families this side offers; Negotiated those both
	// sides agreed on while the session is Established.
	Configured []string `json:"configured_families,omitempty"`
	Negotiated []string `json:"negotiated_families,omitempty"`
	// LastDown is the last time the session left Established, with the
	// NOTIFICATION when one was sent or received; nil if never.
	LastDown *Down `json:"last_down,omitempty"`
}

// FromSpeaker turns the node's own speaker's sessions (gobgp.Speaker.Peers,
// gobgpapi.Speaker.Peers) into Neighbors for SpeakerFindings, as FromBMP
// does for what a BMP station sees.
func FromSpeaker(peers []speakers.Peer) []Neighbor {
	out := make([]Neighbor, 0, len(peers))
	for _, p := range peers {
		n := Neighbor{Address: p.Address, ASN: p.ASN, State: p.State, AdminDown: p.AdminDown, Negotiated: p.Families}
		for _, f := range p.PerFamily {
			n.Configured = append(n.Configured, f.Family)
		}
		if d := p.LastDown; d != nil {
			n.LastDown = &Down{Time: d.Time, PeerAddress: p.Address, PeerAS: p.ASN, Reason: d.Reason, Notification: d.Notification}
		}
		out = append(out, n)
	}
	return out
}

func (n Neighbor) established() bool { return strings.EqualFold(n.State, "established") }

// carries reports whether the neighbor carries, or would carry once its
// session is back, routes of family: a down session offering the family is
// a session problem (bgp.session_down), not a family one.
func (n Neighbor) carries(family string) bool {
	if n.established() {
		return slices.Contains(n.Negotiated, family)
	}
	return slices.Contains(n.Configured, family)
}

// SpeakerFindings returns, at now, bgp.session_down for every neighbor of
// the node's own speaker that is not Established (with the NOTIFICATION
// that closed it decoded, and advice for it), and bgp.family_not_carried for
// every anycast prefix of a family no neighbor carries.
func SpeakerFindings(now time.Time, neighbors []Neighbor, prefixes []netip.Prefix) []finding.Finding {
	var fs []finding.Finding
	for _, n := range neighbors {
		if !n.established() {
			fs = append(fs, neighborDown(n, now))
		}
	}
	for _, p := range prefixes {
		fam := FamilyOf(p)
		if slices.ContainsFunc(neighbors, func(n Neighbor) bool { return n.carries(fam) }) {
			continue
		}
		fs = append(fs, familyNotCarried(p, fam, neighbors, now))
	}
	return fs
}

// neighborDown explains one session of the own speaker that is down. Unlike
// Analyze (which names BMP sessions by their NOTIFICATION: bgp.cease,
// bgp.hold_timer_expired), a session of the node's own speaker is always
// bgp.session_down, because what matters here is that an upstream is lost;
// the NOTIFICATION is its reason.
func neighborDown(n Neighbor, now time.Time) finding.Finding {
	subject := subjectOf("", n.Address)
	ev := map[string]any{"peer_address": n.Address, "peer_as": n.ASN, "state": n.State}
	if n.AdminDown {
		ev["admin_down"] = true
		f := finding.New("bgp.session_down", subject,
			fmt.Sprintf("session with AS%d (%s) is shut down on this speaker", n.ASN, n.Address), ev, now)
		return withAdvice(f, "The neighbor was disabled on this node's speaker: enable it again when the shutdown is over.").WithSeverity(finding.Info)
	}
	d := n.LastDown
	if d == nil {
		f := finding.New("bgp.session_down", subject,
			fmt.Sprintf("session with AS%d (%s) is %s and has not been established", n.ASN, n.Address, n.State), ev, now)
		return withAdvice(f, stateAdvice(n.State))
	}
	ev["reason"] = d.Reason.String()
	ev["down_at"] = d.Time
	since := d.Time
	if since.IsZero() {
		since = now
	}
	if d.Notification == nil {
		f := finding.New("bgp.session_down", subject,
			fmt.Sprintf("session with AS%d (%s) is %s: it went down, %s", n.ASN, n.Address, n.State, d.Reason), ev, since)
		if a := noNotificationAdvice(d.Reason); a != "" {
			return withAdvice(f, a)
		}
		return withAdvice(f, stateAdvice(n.State))
	}
	nt := *d.Notification
	by := "this speaker sent"
	if d.Reason == bgpnames.PeerDownRemoteNotification {
		by = "the peer sent"
	}
	ev["notification"] = nt.String()
	ev["notification_code"] = nt.Code
	ev["notification_subcode"] = nt.Subcode
	ev["sent_by"] = strings.TrimSuffix(by, " sent")
	summary := fmt.Sprintf("session with AS%d (%s) is %s: %s %s", n.ASN, n.Address, n.State, by, nt)
	if msg := nt.ShutdownMessage(); msg != "" {
		ev["shutdown_message"] = msg
		summary += fmt.Sprintf(": %q", msg)
	}
	f := finding.New("bgp.session_down", subject, summary, ev, since)
	if nt.Code == bgpnames.CodeCease && (nt.Subcode == 2 || nt.Subcode == 3 || nt.Subcode == 4 || nt.Subcode == 7) {
		// A human or automation closed it: still an upstream lost, but
		// expected, like Analyze's bgp.cease.
		f = f.WithSeverity(finding.Warning)
	}
	return withAdvice(f, advice(nt))
}

// noNotificationAdvice is the advice for a session closed without
// NOTIFICATION, by reason; "" when the state says more.
func noNotificationAdvice(r bgpnames.PeerDownReason) string {
	switch r {
	case bgpnames.PeerDownRemoteNoNotification:
		return "The TCP connection dropped without NOTIFICATION: a link failure, the peer's BGP process restarting, or a peering mismatch (address, AS, TCP-MD5, TTL security) that keeps the session in Idle/Active."
	case bgpnames.PeerDownLocalNoNotification:
		return "This side closed the session without NOTIFICATION: an administrative shutdown or a local FSM event such as a connect failure."
	case bgpnames.PeerDownDeconfigured:
		return "The neighbor is no longer configured: intended if the peering was removed."
	}
	return ""
}

func familyNotCarried(p netip.Prefix, fam string, neighbors []Neighbor, now time.Time) finding.Finding {
	carried := map[string][]string{}
	var names []string
	for _, n := range neighbors {
		fams := n.Configured
		if n.established() {
			fams = n.Negotiated
		}
		carried[n.Address] = append([]string{}, fams...)
		names = append(names, fmt.Sprintf("%s (%s)", n.Address, strings.Join(fams, ", ")))
	}
	sort.Strings(names)
	what := "no neighbor is configured"
	if len(names) > 0 {
		what = "neighbors carry only: " + strings.Join(names, "; ")
	}
	return finding.New("bgp.family_not_carried", "prefix "+p.String(),
		fmt.Sprintf("anycast prefix %s needs %s, which no BGP neighbor carries; %s", p, fam, what),
		map[string]any{"prefix": p.String(), "family": fam, "neighbor_families": carried}, now)
}
