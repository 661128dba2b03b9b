package gobgpctl

import (
	"testing"

	"github.com/anydiag/anydiag/analyzers/session"
)

// The reasons are GoBGP v3.37's fsmStateReason.String() output.
func TestParsePeerDownReason(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason session.Reason
		notif  string // "" when no NOTIFICATION
		text   string // DescribeDown
	}{
		{"notification-received code 6(cease) subcode 2(administrative shutdown)", session.ReasonRemoteNotification,
			"Cease/Administrative Shutdown (6/2)", "the peer sent Cease/Administrative Shutdown (6/2)"},
		{"notification-sent code 4(hold timer expired) subcode 0(undefined)", session.ReasonLocalNotification,
			"Hold Timer Expired (4/0)", "this speaker sent Hold Timer Expired (4/0)"},
		{"notification-received code 2(open) subcode 2(bad peer as)", session.ReasonRemoteNotification,
			"OPEN Message Error/Bad Peer AS (2/2)", "the peer sent OPEN Message Error/Bad Peer AS (2/2)"},
		{"notification-sent code 99(undefined) subcode 7(undefined)", session.ReasonLocalNotification, "code 99 (99/7)", ""},
		{"hold-timer-expired", session.ReasonLocalNotification, "Hold Timer Expired (4/0)", ""},
		{"read-failed", session.ReasonRemoteNoNotify, "", "connection lost without NOTIFICATION"},
		{"write-failed", session.ReasonRemoteNoNotify, "", ""},
		{"admin-down", session.ReasonLocalNoNotify, "", ""},
		{"dying", session.ReasonDeconfigured, "", ""},
		{"notification-sent code 300(x) subcode 1(y)", session.ReasonUnknown, "", "unknown reason"},
		{"something new", session.ReasonUnknown, "", ""},
		{"", session.ReasonUnknown, "", ""},
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
			if d := DescribeDown(session.Down{Reason: r, Notification: n}); d != tc.text {
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
		if n != nil && r != session.ReasonLocalNotification && r != session.ReasonRemoteNotification {
			t.Fatalf("%q: NOTIFICATION with reason %v", s, r)
		}
		_ = DescribeDown(session.Down{Reason: r, Notification: n})
	})
}
