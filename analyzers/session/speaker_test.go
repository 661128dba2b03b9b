package session

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/speakers"
)

func TestSpeakerFindings(t *testing.T) {
	v4 := netip.MustParsePrefix("192.0.2.1/32")
	v6 := netip.MustParsePrefix("2001:db8::1/128")
	up4 := Neighbor{Address: "198.51.100.1", ASN: 65001, State: "Established",
		Configured: []string{FamilyIPv4Unicast}, Negotiated: []string{FamilyIPv4Unicast}}
	up6 := Neighbor{Address: "2001:db8:ff::1", ASN: 65001, State: "Established",
		Configured: []string{FamilyIPv6Unicast}, Negotiated: []string{FamilyIPv6Unicast}}
	shut := Neighbor{Address: "198.51.100.1", ASN: 65001, State: "Active", Configured: []string{FamilyIPv4Unicast},
		LastDown: &Down{Time: now.Add(-time.Minute), Reason: bgpnames.PeerDownRemoteNotification, Notification: &bgpnames.Notification{Code: 6, Subcode: 2}}}
	tests := []struct {
		name      string
		neighbors []Neighbor
		prefixes  []netip.Prefix
		want      []string
		severity  []finding.Severity
		contains  []string // in the first finding's summary, evidence or advice
	}{
		{name: "both families carried", neighbors: []Neighbor{up4, up6}, prefixes: []netip.Prefix{v4, v6}},
		{
			name: "peer shut the session", neighbors: []Neighbor{shut, up6}, prefixes: []netip.Prefix{v4, v6},
			want: []string{"bgp.session_down"}, severity: []finding.Severity{finding.Warning},
			contains: []string{"the peer sent Cease/Administrative Shutdown (6/2)", "neighbor shutdown"},
		},
		{
			name:      "IPv6 prefix with only an IPv4 neighbor",
			neighbors: []Neighbor{up4}, prefixes: []netip.Prefix{v4, v6},
			want: []string{"bgp.family_not_carried"}, severity: []finding.Severity{finding.Critical},
			contains: []string{"2001:db8::1/128 needs ipv6-unicast", "198.51.100.1 (ipv4-unicast)"},
		},
		{
			name: "offered but declined by the peer",
			neighbors: []Neighbor{{Address: "198.51.100.1", ASN: 65001, State: "Established",
				Configured: []string{FamilyIPv4Unicast, FamilyIPv6Unicast}, Negotiated: []string{FamilyIPv4Unicast}}},
			prefixes: []netip.Prefix{v6},
			want:     []string{"bgp.family_not_carried"},
		},
		{
			// The session is down, not the family: one finding, the right one.
			name: "down session still counts as carrying its family", neighbors: []Neighbor{shut}, prefixes: []netip.Prefix{v4},
			want: []string{"bgp.session_down"},
		},
		{
			name: "hold timer expired is critical",
			neighbors: []Neighbor{{Address: "198.51.100.1", ASN: 65001, State: "Idle", Configured: []string{FamilyIPv4Unicast},
				LastDown: &Down{Time: now, Reason: bgpnames.PeerDownLocalNotification, Notification: &bgpnames.Notification{Code: 4}}}},
			want: []string{"bgp.session_down"}, severity: []finding.Severity{finding.Critical},
			contains: []string{"this speaker sent Hold Timer Expired (4/0)"},
		},
		{
			name:      "never established",
			neighbors: []Neighbor{{Address: "198.51.100.1", ASN: 65001, State: "Active", Configured: []string{FamilyIPv4Unicast}}},
			want:      []string{"bgp.session_down"}, contains: []string{"has not been established", "peering mismatch"},
		},
		{
			name: "connection lost",
			neighbors: []Neighbor{{Address: "198.51.100.1", ASN: 65001, State: "Active",
				LastDown: &Down{Time: now, Reason: bgpnames.PeerDownRemoteNoNotification}}},
			want: []string{"bgp.session_down"}, contains: []string{"remote system closed the session without a NOTIFICATION", "TCP connection dropped"},
		},
		{
			name:      "disabled here",
			neighbors: []Neighbor{{Address: "198.51.100.1", ASN: 65001, State: "Idle", AdminDown: true}},
			want:      []string{"bgp.session_down"}, severity: []finding.Severity{finding.Info},
		},
		{name: "no neighbors at all", prefixes: []netip.Prefix{v4}, want: []string{"bgp.family_not_carried"}, contains: []string{"no neighbor is configured"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := SpeakerFindings(now, tc.neighbors, tc.prefixes)
			var codes []string
			for _, f := range fs {
				codes = append(codes, f.Code)
			}
			if strings.Join(codes, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("codes %v, want %v: %+v", codes, tc.want, fs)
			}
			for i, s := range tc.severity {
				if fs[i].Severity != s {
					t.Errorf("finding %d severity %s, want %s", i, fs[i].Severity, s)
				}
			}
			for _, c := range tc.contains {
				f := fs[0]
				if text := f.Summary + " " + f.Advice + " " + fmtEvidence(f.Evidence); !strings.Contains(text, c) {
					t.Errorf("%q not in %q", c, text)
				}
			}
		})
	}
}

func fmtEvidence(ev map[string]any) string {
	var b strings.Builder
	for k, v := range ev {
		b.WriteString(k + "=")
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteString(" ")
	}
	return b.String()
}

// TestFromSpeaker: the speaker's own view of its sessions becomes the
// analyzer's Neighbors (configured families from PerFamily, the Peer Down
// with the peer's address and AS) and the findings name the NOTIFICATION.
func TestFromSpeaker(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	down := speakers.PeerDown{Time: now.Add(-time.Hour), Reason: bgpnames.PeerDownRemoteNotification,
		Notification: &bgpnames.Notification{Code: 6, Subcode: 2}}
	peers := []speakers.Peer{
		{Address: "198.51.100.1", ASN: 65001, State: "Established", Families: []string{FamilyIPv4Unicast},
			PerFamily: []speakers.FamilyState{{Family: FamilyIPv4Unicast, Negotiated: true}, {Family: FamilyIPv6Unicast}}},
		{Address: "2001:db8:ff::1", ASN: 65002, State: "Active", PerFamily: []speakers.FamilyState{{Family: FamilyIPv6Unicast}}, LastDown: &down},
	}
	ns := FromSpeaker(peers)
	if len(ns) != 2 || !slices.Equal(ns[0].Configured, []string{FamilyIPv4Unicast, FamilyIPv6Unicast}) ||
		!slices.Equal(ns[0].Negotiated, []string{FamilyIPv4Unicast}) || ns[0].LastDown != nil || ns[1].State != "Active" {
		t.Fatalf("FromSpeaker = %+v", ns)
	}
	if d := ns[1].LastDown; d == nil || d.PeerAddress != "2001:db8:ff::1" || d.PeerAS != 65002 || !d.Time.Equal(down.Time) ||
		d.Reason != bgpnames.PeerDownRemoteNotification || d.Notification == nil || d.Notification.Subcode != 2 {
		t.Fatalf("LastDown = %+v", ns[1].LastDown)
	}
	fs := SpeakerFindings(now, ns, []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")})
	if len(fs) != 1 || fs[0].Code != "bgp.session_down" || !strings.Contains(fs[0].Summary, "the peer sent Cease/Administrative Shutdown (6/2)") {
		t.Errorf("findings = %+v", fs)
	}
}
