package session

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/internal/finding"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func peer(state string) Peer {
	return Peer{Router: "203.0.113.1", PeerAddress: "198.51.100.2", PeerAS: 65002, State: state, Table: "adj-rib-in-pre"}
}

func down(ago time.Duration, r bgpnames.PeerDownReason, n *bgpnames.Notification) Down {
	return Down{Time: now.Add(-ago), Router: "203.0.113.1", PeerAddress: "198.51.100.2", PeerAS: 65002, Reason: r, Notification: n}
}

func TestAnalyze(t *testing.T) {
	shutdownMsg := append([]byte{11}, "maintenance"...)
	tests := []struct {
		name     string
		cfg      Config
		peers    []Peer
		downs    []Down
		want     []string // codes in order
		severity []finding.Severity
		contains string // in the first finding's summary or advice
	}{
		{name: "up and quiet", peers: []Peer{peer("up")}},
		{
			name:  "hold timer expired",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownLocalNotification, &bgpnames.Notification{Code: 4})},
			want: []string{"bgp.hold_timer_expired"}, severity: []finding.Severity{finding.Critical},
			contains: "CPU too busy",
		},
		{
			name:  "admin shutdown with message",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownRemoteNotification, &bgpnames.Notification{Code: 6, Subcode: 2, Data: shutdownMsg})},
			want: []string{"bgp.cease"}, severity: []finding.Severity{finding.Warning},
			contains: `"maintenance"`,
		},
		{
			name:  "maximum prefixes is critical",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownLocalNotification, &bgpnames.Notification{Code: 6, Subcode: 1})},
			want: []string{"bgp.cease"}, severity: []finding.Severity{finding.Critical},
			contains: "Maximum Number of Prefixes",
		},
		{
			name:  "connection rejected",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownRemoteNotification, &bgpnames.Notification{Code: 6, Subcode: 5})},
			want: []string{"bgp.cease"}, severity: []finding.Severity{finding.Critical},
			contains: "refuses the connection",
		},
		{
			name:  "bad peer AS",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownRemoteNotification, &bgpnames.Notification{Code: 2, Subcode: 2})},
			want: []string{"bgp.notification"}, severity: []finding.Severity{finding.Warning},
			contains: "OPEN Message Error/Bad Peer AS (2/2)",
		},
		{
			name:  "link loss without notification",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownRemoteNoNotification, nil)},
			want: []string{"bgp.session_down"}, severity: []finding.Severity{finding.Critical},
			contains: "link failure",
		},
		{
			name:  "deconfigured is info",
			peers: []Peer{peer("down")}, downs: []Down{down(time.Minute, bgpnames.PeerDownDeconfigured, nil)},
			want: []string{"bgp.session_down"}, severity: []finding.Severity{finding.Info},
		},
		{
			name:  "speaker view in Active",
			peers: []Peer{peer("Active")},
			want:  []string{"bgp.session_down"}, severity: []finding.Severity{finding.Critical},
			contains: "peering mismatch",
		},
		{
			name:  "three downs in the hour is unstable",
			peers: []Peer{peer("up")},
			downs: []Down{down(50*time.Minute, bgpnames.PeerDownRemoteNoNotification, nil), down(20*time.Minute, bgpnames.PeerDownLocalNotification, &bgpnames.Notification{Code: 4}),
				down(time.Minute, bgpnames.PeerDownRemoteNoNotification, nil)},
			want: []string{"bgp.session_unstable"}, severity: []finding.Severity{finding.Warning},
			contains: "3 times",
		},
		{
			name:  "downs outside the window do not count",
			peers: []Peer{peer("up")},
			downs: []Down{down(2*time.Hour, bgpnames.PeerDownRemoteNoNotification, nil), down(20*time.Minute, bgpnames.PeerDownRemoteNoNotification, nil),
				down(time.Minute, bgpnames.PeerDownRemoteNoNotification, nil)},
		},
		{
			name:  "custom window",
			cfg:   Config{UnstableDowns: 2, UnstableWindow: 30 * time.Minute},
			peers: []Peer{peer("up")},
			downs: []Down{down(20*time.Minute, bgpnames.PeerDownRemoteNoNotification, nil), down(time.Minute, bgpnames.PeerDownRemoteNoNotification, nil)},
			want:  []string{"bgp.session_unstable"}, severity: []finding.Severity{finding.Warning},
		},
		{
			name: "expected session missing",
			cfg: Config{ExpectedSessions: []Expected{
				{PeerAddress: netip.MustParseAddr("198.51.100.2"), PeerAS: 65002},
				{Router: "203.0.113.1", PeerAddress: netip.MustParseAddr("198.51.100.9"), PeerAS: 65009, Description: "transit B"},
			}},
			peers: []Peer{peer("up")},
			want:  []string{"bgp.session_missing"}, severity: []finding.Severity{finding.Critical},
			contains: "transit B",
		},
		{
			name:  "expected with wrong AS is missing",
			cfg:   Config{ExpectedSessions: []Expected{{PeerAddress: netip.MustParseAddr("198.51.100.2"), PeerAS: 65099}}},
			peers: []Peer{peer("up")},
			want:  []string{"bgp.session_missing"}, severity: []finding.Severity{finding.Critical},
		},
		{
			name:  "tables of one session fold into one",
			peers: []Peer{peer("down"), func() Peer { p := peer("down"); p.Table = "adj-rib-in-post"; return p }()},
			downs: []Down{down(time.Minute, bgpnames.PeerDownLocalNotification, &bgpnames.Notification{Code: 4})},
			want:  []string{"bgp.hold_timer_expired"}, severity: []finding.Severity{finding.Critical},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := Analyze(tc.cfg, now, tc.peers, tc.downs)
			if len(fs) != len(tc.want) {
				t.Fatalf("got %d findings %+v, want %v", len(fs), fs, tc.want)
			}
			for i, f := range fs {
				if f.Code != tc.want[i] || f.Severity != tc.severity[i] {
					t.Errorf("finding %d: %s/%s, want %s/%s", i, f.Code, f.Severity, tc.want[i], tc.severity[i])
				}
			}
			if tc.contains != "" && !strings.Contains(fs[0].Summary+" "+fs[0].Advice, tc.contains) {
				t.Errorf("%q not in %q / %q", tc.contains, fs[0].Summary, fs[0].Advice)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory(time.Hour)
	h.Add(down(90*time.Minute, bgpnames.PeerDownRemoteNoNotification, nil))
	h.Add(down(30*time.Minute, bgpnames.PeerDownRemoteNoNotification, nil))
	h.Add(down(time.Minute, bgpnames.PeerDownRemoteNoNotification, nil))
	if n := len(h.Downs(now)); n != 2 {
		t.Fatalf("%d downs within the hour, want 2", n)
	}
	if n := len(h.Downs(now.Add(45 * time.Minute))); n != 1 {
		t.Fatalf("%d downs 45 min later, want 1", n)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte("expected_sessions:\n  - peer_address: 198.51.100.2\n    peer_as: 65002\nunstable_downs: 5\nunstable_window: 30m\n"))
	if err != nil || c.UnstableWindow != 30*time.Minute || c.ExpectedSessions[0].PeerAddress != netip.MustParseAddr("198.51.100.2") {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"colour: red\n", "expected_sessions:\n  - peer_as: 1\n", "expected_sessions:\n  - peer_address: nope\n", "unstable_downs: -1\n"} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestAdviceCoversTheVocabulary: every Cease and OPEN subcode the findings
// treat apart gets its own advice, not the code's fallback, and an unknown
// code gets the generic line.
func TestAdviceCoversTheVocabulary(t *testing.T) {
	fallback := map[uint8]string{
		bgpnames.CodeCease: advice(bgpnames.Notification{Code: bgpnames.CodeCease, Subcode: 99}),
		bgpnames.CodeOpen:  advice(bgpnames.Notification{Code: bgpnames.CodeOpen, Subcode: 99}),
	}
	seen := map[string]bgpnames.Notification{}
	for _, n := range []bgpnames.Notification{
		{Code: 6, Subcode: 1}, {Code: 6, Subcode: 2}, {Code: 6, Subcode: 3}, {Code: 6, Subcode: 4}, {Code: 6, Subcode: 5},
		{Code: 6, Subcode: 6}, {Code: 6, Subcode: 7}, {Code: 6, Subcode: 8}, {Code: 6, Subcode: 9}, {Code: 6, Subcode: 10},
		{Code: 2, Subcode: 2}, {Code: 2, Subcode: 3}, {Code: 2, Subcode: 6}, {Code: 2, Subcode: 11},
	} {
		a := advice(n)
		if a == "" || a == fallback[n.Code] {
			t.Errorf("%s: no advice of its own (%q)", n, a)
		}
		if prev, dup := seen[a]; dup {
			t.Errorf("%s and %s share advice %q", n, prev, a)
		}
		seen[a] = n
	}
	if got := advice(bgpnames.Notification{Code: 99}); got != "Read the NOTIFICATION code and subcode and the peer's logs." {
		t.Errorf("unknown code: %q", got)
	}
}
