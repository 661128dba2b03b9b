package flap

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/wire"
)

func TestFeed(t *testing.T) {
	s, err := NewSet(dampening.Cisco, dampening.Juniper)
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("198.51.100.2")
	mk := func(at time.Duration, k bmp.EventKind, table wire.Table) bmp.Event {
		return bmp.Event{Kind: k, Router: "203.0.113.1", PeerAddress: peer, Table: table, Prefix: anyPfx, Arrival: t0.Add(at)}
	}
	ch := make(chan bmp.Event, 16)
	// W at 0 and 90 s (announce between), each also seen post-policy, which
	// must not count; a Peer Down penalises nothing.
	for _, e := range []bmp.Event{
		mk(0, bmp.RouteAnnounced, wire.AdjRIBInPre),
		mk(0, bmp.RouteWithdrawn, wire.AdjRIBInPre), mk(0, bmp.RouteWithdrawn, wire.AdjRIBInPost),
		mk(30*time.Second, bmp.RouteAnnounced, wire.AdjRIBInPre),
		mk(90*time.Second, bmp.RouteWithdrawn, wire.AdjRIBInPre), mk(90*time.Second, bmp.RouteWithdrawn, wire.AdjRIBInPost),
		mk(90*time.Second, bmp.PeerDown, 0),
	} {
		ch <- e
	}
	close(ch)
	var seen int
	if err := Feed(context.Background(), ch, s, FeedOptions{Observed: func(Event, time.Time) { seen++ }}); err != nil {
		t.Fatal(err)
	}
	if seen != 4 {
		t.Fatalf("%d events applied, want 4", seen)
	}
	// Cisco: 1000 × 2^(-90/900) + 1000 = 1933.033; Juniper adds the
	// re-advertisement at 30 s: 1000 × 2^(-90/900) + 1000 × 2^(-60/900) + 1000 = 2887.8746
	// (2^(-60/900) = 0.9548416).
	want := map[string]float64{"cisco": 1933.0329915368075, "juniper": 1933.0329915368075 + 1000*0.9548416}
	for name, w := range want {
		tr, _ := s.Tracker(name)
		st, ok := tr.Lookup("203.0.113.1", "198.51.100.2", anyPfx, t0.Add(90*time.Second))
		if !ok || st.Penalty < w-1e-3 || st.Penalty > w+1e-3 {
			t.Errorf("%s: %+v, want %.4f", name, st, w)
		}
	}
}
