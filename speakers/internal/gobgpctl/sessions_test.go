package gobgpctl

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/speakers"
)

// The reasons are GoBGP v3.37's fsmStateReason.String() output.
func TestParsePeerDownReason(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason bgpnames.PeerDownReason
		notif  string // "" when no NOTIFICATION
		text   string // DescribeDown
	}{
		{"notification-received code 6(cease) subcode 2(administrative shutdown)", bgpnames.PeerDownRemoteNotification,
			"Cease/Administrative Shutdown (6/2)", "the peer sent Cease/Administrative Shutdown (6/2)"},
		{"notification-sent code 4(hold timer expired) subcode 0(undefined)", bgpnames.PeerDownLocalNotification,
			"Hold Timer Expired (4/0)", "this speaker sent Hold Timer Expired (4/0)"},
		{"notification-received code 2(open) subcode 2(bad peer as)", bgpnames.PeerDownRemoteNotification,
			"OPEN Message Error/Bad Peer AS (2/2)", "the peer sent OPEN Message Error/Bad Peer AS (2/2)"},
		{"notification-sent code 99(undefined) subcode 7(undefined)", bgpnames.PeerDownLocalNotification, "code 99 (99/7)", ""},
		{"hold-timer-expired", bgpnames.PeerDownLocalNotification, "Hold Timer Expired (4/0)", ""},
		{"read-failed", bgpnames.PeerDownRemoteNoNotification, "", "remote system closed the session without a NOTIFICATION"},
		{"write-failed", bgpnames.PeerDownRemoteNoNotification, "", ""},
		{"admin-down", bgpnames.PeerDownLocalNoNotification, "", ""},
		{"dying", bgpnames.PeerDownDeconfigured, "", ""},
		{"notification-sent code 300(x) subcode 1(y)", bgpnames.PeerDownUnknown, "", "unknown reason"},
		{"something new", bgpnames.PeerDownUnknown, "", ""},
		{"", bgpnames.PeerDownUnknown, "", ""},
	} {
		r, n := ParsePeerDownReason(tc.in)
		got := ""
		if n != nil {
			got = n.String()
		}
		if r != tc.reason || got != tc.notif {
			t.Errorf("%q: %v %q, want %v %q", tc.in, r, got, tc.reason, tc.notif)
		}
		if tc.text != "" {
			if d := DescribeDown(speakers.PeerDown{Reason: r, Notification: n}); d != tc.text {
				t.Errorf("%q: DescribeDown %q, want %q", tc.in, d, tc.text)
			}
		}
	}
}

func FuzzParsePeerDownReason(f *testing.F) {
	f.Add("notification-received code 6(cease) subcode 2(administrative shutdown)")
	f.Add("hold-timer-expired")
	f.Fuzz(func(t *testing.T, s string) {
		r, n := ParsePeerDownReason(s)
		if n != nil && r != bgpnames.PeerDownLocalNotification && r != bgpnames.PeerDownRemoteNotification {
			t.Fatalf("%q: NOTIFICATION with reason %v", s, r)
		}
		_ = DescribeDown(speakers.PeerDown{Reason: r, Notification: n})
	})
}

func TestMetrics(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	down := speakers.PeerDown{Time: now.Add(-time.Hour), Reason: bgpnames.PeerDownRemoteNotification, Notification: &bgpnames.Notification{Code: 6, Subcode: 2}}
	peers := []PeerState{
		{Address: "198.51.100.1", ASN: 65001, State: "Established", Since: now.Add(-90 * time.Second),
			Families:  []string{"ipv4-unicast"},
			PerFamily: []FamilyState{{Family: "ipv4-unicast", Negotiated: true, Received: 3, Accepted: 2, Advertised: 1}, {Family: "ipv6-unicast"}},
			LastDown:  &down, LastError: DescribeDown(down)},
		{Address: "2001:db8:ff::1", ASN: 65002, State: "Active", PerFamily: []FamilyState{{Family: "ipv6-unicast"}}},
	}
	var buf bytes.Buffer
	set := Metrics(peers, now)
	if err := prometheus.Write(&buf, false, set); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`anydiag_bgp_session_uptime_seconds{neighbor="198.51.100.1",peer_as="65001"} 90`,
		`anydiag_bgp_session_up{neighbor="198.51.100.1",peer_as="65001",family="ipv4-unicast"} 1`,
		`anydiag_bgp_session_up{neighbor="198.51.100.1",peer_as="65001",family="ipv6-unicast"} 0`,
		`anydiag_bgp_prefixes_received{neighbor="198.51.100.1",peer_as="65001",family="ipv4-unicast"} 3`,
		`anydiag_bgp_prefixes_accepted{neighbor="198.51.100.1",peer_as="65001",family="ipv4-unicast"} 2`,
		`anydiag_bgp_session_last_error_info{neighbor="198.51.100.1",peer_as="65001",error="the peer sent Cease/Administrative Shutdown (6/2)"} 1`,
		`anydiag_bgp_session_last_down_timestamp_seconds{neighbor="198.51.100.1",peer_as="65001"} 1796122800`,
		`anydiag_bgp_session_state{neighbor="2001:db8:ff::1",peer_as="65002",state="Active"} 1`,
		`anydiag_bgp_session_uptime_seconds{neighbor="2001:db8:ff::1",peer_as="65002"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, `anydiag_bgp_session_last_error_info{neighbor="2001:db8:ff::1"`) {
		t.Error("last error for a session that never went down")
	}
	if u := prometheus.Undescribed(set); len(u) > 0 {
		t.Errorf("undescribed: %v", u)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(out)
		if res, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(res)) > 0 {
			t.Errorf("promtool: %v %s", err, res)
		}
	}
}
