package bgpnames

import "testing"

func TestNotificationString(t *testing.T) {
	tests := []struct {
		n        Notification
		want     string
		shutdown string
	}{
		{Notification{Code: 4}, "Hold Timer Expired (4/0)", ""},
		{Notification{Code: 6, Subcode: 10}, "Cease/BFD Down (6/10)", ""},
		{Notification{Code: 5, Subcode: 3}, "Finite State Machine Error/Receive Unexpected Message in Established State (5/3)", ""},
		{Notification{Code: 7, Subcode: 1}, "ROUTE-REFRESH Message Error/Invalid Message Length (7/1)", ""},
		{Notification{Code: 2, Subcode: 99}, "OPEN Message Error (2/99)", ""},
		{Notification{Code: 99, Subcode: 7}, "code 99 (99/7)", ""},
		{Notification{Code: 6, Subcode: 2, Data: []byte{2, 'o', 'k'}}, "Cease/Administrative Shutdown (6/2)", "ok"},
		{Notification{Code: 6, Subcode: 4, Data: []byte{2, 'o', 'k'}}, "Cease/Administrative Reset (6/4)", "ok"},
		// A length beyond the data, invalid UTF-8, or another subcode carry no message.
		{Notification{Code: 6, Subcode: 2, Data: []byte{9, 'o', 'k'}}, "Cease/Administrative Shutdown (6/2)", ""},
		{Notification{Code: 6, Subcode: 4, Data: []byte{2, 0xff, 0xfe}}, "Cease/Administrative Reset (6/4)", ""},
		{Notification{Code: 6, Subcode: 3, Data: []byte{2, 'o', 'k'}}, "Cease/Peer De-configured (6/3)", ""},
		{Notification{Code: 6, Subcode: 2, Data: []byte{0}}, "Cease/Administrative Shutdown (6/2)", ""},
	}
	for _, tc := range tests {
		if got := tc.n.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.n, got, tc.want)
		}
		if got := tc.n.ShutdownMessage(); got != tc.shutdown {
			t.Errorf("%+v: shutdown message %q, want %q", tc.n, got, tc.shutdown)
		}
	}
}

func TestPeerDownReasonString(t *testing.T) {
	tests := []struct {
		r    PeerDownReason
		want string
	}{
		{PeerDownUnknown, "unknown reason"},
		{PeerDownLocalNotification, "local system closed the session with a NOTIFICATION"},
		{PeerDownRemoteNoNotification, "remote system closed the session without a NOTIFICATION"},
		{PeerDownDeconfigured, "peer de-configured"},
		{PeerDownLocalTLV, "local system closed the session (Loc-RIB), TLVs follow"},
		{7, "reason 7"},
		{255, "reason 255"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestEveryNameIsReachable guards the tables against a subcode filed under
// a code that has no name (it would print as "code N/...").
func TestEveryNameIsReachable(t *testing.T) {
	for c, subs := range subcodeNames {
		if _, ok := codeNames[c]; !ok {
			t.Errorf("subcodes of unnamed code %d", c)
		}
		for s, name := range subs {
			if s == 0 || name == "" {
				t.Errorf("code %d: bad subcode entry %d %q", c, s, name)
			}
		}
	}
}
