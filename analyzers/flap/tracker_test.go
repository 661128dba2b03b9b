package flap

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/internal/finding"
)

var (
	t0     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	anyPfx = netip.MustParsePrefix("192.0.2.0/24")
)

// step is one event at t0+at, then the penalty expected right after it.
type step struct {
	at         time.Duration
	kind       Kind
	want       float64
	suppressed bool
}

func ev(at time.Duration, k Kind) Event {
	return Event{Time: t0.Add(at), Router: "203.0.113.1", Peer: "198.51.100.2", Prefix: anyPfx, Kind: k}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestTrackerSequences(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name    string
		profile dampening.Profile
		steps   []step
	}{
		{
			// Cisco: W=1000, re-advertisement 0, half-life 15 min.
			// 0:     W            -> 1000
			// 15m:   A            -> 1000/2 = 500 (nothing added)
			// 15m:   W            -> 500 + 1000 = 1500
			// 30m:   A, W         -> 1500/2 + 1000 = 1750  (not above 2000)
			// 30m:   A, W         -> 1750 + 1000 = 2750 > 2000: suppressed
			name:    "cisco decay between flaps",
			profile: dampening.Cisco,
			steps: []step{
				{0, Withdraw, 1000, false},
				{15 * m, Announce, 500, false},
				{15 * m, Withdraw, 1500, false},
				{30 * m, Announce, 750, false},
				{30 * m, Withdraw, 1750, false},
				{30 * m, Announce, 1750, false},
				{30 * m, Withdraw, 2750, true},
			},
		},
		{
			// Juniper: W=1000 and re-advertisement 1000, suppress 3000.
			// W, A, W at one instant: 3000, not above 3000; A: 4000 > 3000.
			name:    "juniper counts re-advertisements",
			profile: dampening.Juniper,
			steps: []step{
				{0, Withdraw, 1000, false},
				{0, Announce, 2000, false},
				{0, Withdraw, 3000, false},
				{0, Announce, 4000, true},
			},
		},
		{
			// Attribute changes cost 500: five at once are 2500 > 2000.
			name:    "cisco attribute changes",
			profile: dampening.Cisco,
			steps: []step{
				{0, AttrChange, 500, false},
				{0, AttrChange, 1000, false},
				{0, AttrChange, 1500, false},
				{0, AttrChange, 2000, false},
				{0, AttrChange, 2500, true},
			},
		},
		{
			// A second withdrawal of a withdrawn route costs nothing; an
			// announcement of a route never penalised keeps nothing.
			name:    "duplicates are free",
			profile: dampening.Cisco,
			steps: []step{
				{0, Announce, 0, false},
				{0, Withdraw, 1000, false},
				{0, Withdraw, 1000, false},
			},
		},
		{
			// Hysteresis: suppressed at 3000 (W,W,W at one instant with
			// announcements between), still suppressed when decayed to 1000
			// (below suppress, above reuse) after 900 × log2(3) = 1426.98 s.
			name:    "suppressed until below reuse",
			profile: dampening.Cisco,
			steps: []step{
				{0, Withdraw, 1000, false},
				{0, Announce, 1000, false},
				{0, Withdraw, 2000, false},
				{0, Announce, 2000, false},
				{0, Withdraw, 3000, true},
				{0, Announce, 3000, true},
				{time.Duration(900 * math.Log2(3) * float64(time.Second)), Announce, 1000, true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracker(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				st, err := tr.Observe(ev(s.at, s.kind))
				if err != nil {
					t.Fatal(err)
				}
				if !near(st.Penalty, s.want) || st.Suppressed != s.suppressed {
					t.Fatalf("step %d (%s at %s): penalty %.6f suppressed %v, want %.6f %v",
						i, s.kind, s.at, st.Penalty, st.Suppressed, s.want, s.suppressed)
				}
			}
		})
	}
}

func TestTrackerReuseTime(t *testing.T) {
	tr, err := NewTracker(dampening.Cisco)
	if err != nil {
		t.Fatal(err)
	}
	// The Cisco sequence above: 0 W; 15m A W; 30m A W A W -> 2750.
	for _, e := range []Event{ev(0, Withdraw), ev(15*time.Minute, Announce), ev(15*time.Minute, Withdraw),
		ev(30*time.Minute, Announce), ev(30*time.Minute, Withdraw), ev(30*time.Minute, Announce), ev(30*time.Minute, Withdraw)} {
		if _, err := tr.Observe(e); err != nil {
			t.Fatal(err)
		}
	}
	// Reuse in 900 × log2(2750 / 750) = 1687.022206 s.
	st, ok := tr.Lookup(ev(0, 0).Router, ev(0, 0).Peer, anyPfx, t0.Add(30*time.Minute))
	if !ok || !st.Suppressed || !near(st.ReuseInSeconds, 1687.022206124527) {
		t.Fatalf("got %+v, want suppressed with reuse in 1687.022206 s", st)
	}
	// One second before reuse it is still suppressed; one second after it is not
	// and the penalty is 750 × 2^(-1/900) = 749.4226.
	at := t0.Add(30*time.Minute + st.ReuseIn())
	if st, _ := tr.Lookup(ev(0, 0).Router, ev(0, 0).Peer, anyPfx, at.Add(-time.Second)); !st.Suppressed {
		t.Fatalf("released before reuse time: %+v", st)
	}
	st, _ = tr.Lookup(ev(0, 0).Router, ev(0, 0).Peer, anyPfx, at.Add(time.Second))
	if st.Suppressed || math.Abs(st.Penalty-749.4226) > 1e-3 {
		t.Fatalf("after reuse time: %+v, want released at 749.4226", st)
	}
}

func TestTrackerCeiling(t *testing.T) {
	// Ceiling = 750 × 2^(60/15) = 12000; a route at the ceiling is reused
	// after exactly max-suppress: 900 × log2(12000/750) = 900 × 4 = 3600 s.
	tr, err := NewTracker(dampening.Cisco)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	for i := 0; i < 20; i++ {
		tr.Observe(ev(0, Withdraw))
		st, _ = tr.Observe(ev(0, Announce))
	}
	if st.Penalty != 12000 || !near(st.ReuseInSeconds, 3600) || st.Flaps != 20 {
		t.Fatalf("got %+v, want penalty 12000, reuse in 3600 s, 20 flaps", st)
	}
}

func TestTrackerDecayAndPrune(t *testing.T) {
	tr, err := NewTracker(dampening.Cisco)
	if err != nil {
		t.Fatal(err)
	}
	tr.Observe(ev(0, Withdraw))
	// 1000 → 500 after one half-life, 250 after two; 1000 × 2^(-90/900) = 933.033 after 90 s.
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{90 * time.Second, 933.0329915368075}, {15 * time.Minute, 500}, {30 * time.Minute, 250}} {
		st, ok := tr.Lookup(ev(0, 0).Router, ev(0, 0).Peer, anyPfx, t0.Add(c.at))
		if !ok || !near(st.Penalty, c.want) {
			t.Fatalf("at %s: %+v, want %.4f", c.at, st, c.want)
		}
	}
	// A timestamp older than the last update decays nothing.
	if st, _ := tr.Lookup(ev(0, 0).Router, ev(0, 0).Peer, anyPfx, t0.Add(-time.Hour)); st.Penalty != 1000 {
		t.Fatalf("backwards clock changed the penalty: %v", st.Penalty)
	}
	// History is reset below reuse/2 = 375: 500 at 15 min stays, 250 at 30 min goes.
	if n := tr.Prune(t0.Add(15 * time.Minute)); n != 0 || tr.Len() != 1 {
		t.Fatalf("pruned %d at 500", n)
	}
	if n := tr.Prune(t0.Add(30 * time.Minute)); n != 1 || tr.Len() != 0 {
		t.Fatalf("pruned %d at 250, %d left", n, tr.Len())
	}
}

func TestTrackerKeys(t *testing.T) {
	tr, _ := NewTracker(dampening.Cisco)
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.0.2.0/25"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::ffff:192.0.2.0/120"),
	}
	for _, p := range prefixes {
		tr.Observe(Event{Time: t0, Router: "r", Peer: "a", Prefix: p, Kind: Withdraw})
		tr.Observe(Event{Time: t0, Router: "r", Peer: "b", Prefix: p, Kind: Withdraw})
	}
	if tr.Len() != 2*len(prefixes) {
		t.Fatalf("%d entries, want %d distinct", tr.Len(), 2*len(prefixes))
	}
	for _, p := range prefixes {
		st, ok := tr.Lookup("r", "b", p, t0)
		if !ok || st.Prefix != p || st.Penalty != 1000 {
			t.Fatalf("%s: %+v", p, st)
		}
	}
	if _, err := tr.Observe(Event{Time: t0, Kind: Withdraw}); err == nil {
		t.Fatal("invalid prefix accepted")
	}
	if _, err := tr.Observe(Event{Time: t0, Prefix: anyPfx, Kind: 9}); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestFindings(t *testing.T) {
	tr, _ := NewTracker(dampening.Cisco)
	own := []netip.Prefix{anyPfx}
	other := netip.MustParsePrefix("198.51.100.0/24")
	// Own prefix: W, A, W at t0 → 2000, flapping (not above 2000), headroom 0.
	// Other prefix: W,A,W,A,W at t0 → 3000, dampened, reuse in 900×log2(4) = 1800 s.
	for _, k := range []Kind{Withdraw, Announce, Withdraw} {
		tr.Observe(Event{Time: t0, Router: "r", Peer: "p", Prefix: anyPfx, Kind: k})
	}
	for _, k := range []Kind{Withdraw, Announce, Withdraw, Announce, Withdraw} {
		tr.Observe(Event{Time: t0, Router: "r", Peer: "p", Prefix: other, Kind: k})
	}
	fs := tr.Findings(t0, own)
	if len(fs) != 2 {
		t.Fatalf("%d findings: %+v", len(fs), fs)
	}
	if fs[0].Code != "bgp.prefix_flapping" || fs[0].Severity != finding.Warning || fs[0].Evidence["headroom"] != 0.0 {
		t.Fatalf("own first, flapping at warning: %+v", fs[0])
	}
	if fs[1].Code != "bgp.prefix_dampened" || fs[1].Severity != finding.Warning || fs[1].Evidence["reuse_in_seconds"] != 1800.0 {
		t.Fatalf("other prefix dampened, one level down from critical: %+v", fs[1])
	}
	// Same prefix dampened when it is ours is critical.
	if fs := tr.Findings(t0, []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16")}); fs[0].Severity != finding.Critical {
		t.Fatalf("own dampened prefix: %+v", fs[0])
	}
}
