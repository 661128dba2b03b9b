package bmp

import (
	"net/netip"
	"testing"

	"github.com/anydiag/anydiag/bmp/wire"
)

// FuzzCursor: a ?cursor= from a client is untrusted; decoding never panics,
// what decodes re-encodes to the same position, and a page after it is
// computed without error on a station with routes.
func FuzzCursor(f *testing.F) {
	pos := routePos{Lo: 0x0a000000, Bits: 24, PathID: 3}
	for _, c := range []*cursor{
		{Router: "127.0.0.1", Peer: netip.MustParseAddr("192.0.2.1"), Route: &pos},
		{Router: "r", Type: 3, Dist: 1 << 48, Peer: netip.MustParseAddr("::"), Table: 4},
	} {
		f.Add(c.encode())
	}
	f.Add("")
	f.Add("eyJyIjoiIn0")
	st, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	rt := newRouter("127.0.0.1", st.clock(), nil)
	p := &peer{key: peerKey{addr: netip.MustParseAddr("192.0.2.1")}, up: true}
	tb := newRIBTable()
	ref, _ := st.intern.acquire([]byte{0x40, 1, 1, 0}, 3)
	for i := range 3 {
		tb.set(wire.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24)}, ref, true)
	}
	p.tables[wire.AdjRIBInPre] = tb
	rt.peers[p.key] = p
	st.routers[rt.addr] = rt
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil || c == nil {
			return
		}
		c2, err := decodeCursor(c.encode())
		if err != nil || c2.Router != c.Router || c2.Peer != c.Peer || c2.Table != c.Table || (c.Route == nil) != (c2.Route == nil) ||
			(c.Route != nil && *c.Route != *c2.Route) {
			t.Fatalf("%q: %+v re-reads as %+v (%v)", s, c, c2, err)
		}
		if c.Route != nil {
			_, rows, _, err := st.routesPage(RouteQuery{}, c, 2)
			if err != nil {
				t.Fatal(err)
			}
			st.intern.unpin(rows)
		} else if _, _, err := st.peersPage(RouteQuery{}, c, 2); err != nil {
			t.Fatal(err)
		}
	})
}
