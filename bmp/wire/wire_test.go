package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"testing"

	"github.com/anydiag/anydiag/bmp/internal/gen"
	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gbmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

func hdr(version byte, length uint32, typ byte) []byte {
	b := []byte{version, 0, 0, 0, 0, typ}
	binary.BigEndian.PutUint32(b[1:], length)
	return b
}

func TestReaderRejectsBadFraming(t *testing.T) {
	initiation := append(hdr(3, 10, 4), 0, 2, 0, 0)
	tests := []struct {
		name   string
		stream []byte
		reason string
		good   int
	}{
		{"zero length", hdr(3, 0, 4), "short_length", 0},
		{"length below header", hdr(3, 5, 4), "short_length", 0},
		{"wrong version", hdr(1, 10, 4), "bad_version", 0},
		{"above the maximum", hdr(3, wire.MaxMessageLen+1, 0), "too_large", 0},
		{"truncated body", append(hdr(3, 100, 0), make([]byte, 20)...), "truncated", 0},
		{"truncated header", []byte{3, 0, 0}, "truncated", 0},
		{"good then garbage", append(slices.Clone(initiation), []byte("GET / HTTP/1.1\r\n")...), "bad_version", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := wire.NewReader(bytes.NewReader(tc.stream), 0)
			good := 0
			for {
				_, err := r.Next()
				if err == nil {
					good++
					continue
				}
				var fe *wire.FrameError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v, want a FrameError", err)
				}
				if fe.Reason != tc.reason || good != tc.good {
					t.Fatalf("reason %q after %d messages, want %q after %d", fe.Reason, good, tc.reason, tc.good)
				}
				return
			}
		})
	}
}

func TestReaderAcceptsExtendedMessages(t *testing.T) {
	// A route monitoring message above 64 KiB carrying a BGP extended message.
	msg := append(hdr(3, wire.MaxMessageLen, 0), make([]byte, wire.MaxMessageLen-6)...)
	r := wire.NewReader(io.MultiReader(bytes.NewReader(msg), bytes.NewReader(msg)), 0)
	for i := 0; i < 2; i++ {
		m, err := r.Next()
		if err != nil || len(m) != wire.MaxMessageLen {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// TestUpdateMatchesGoBGP decodes a generated feed with this package and with
// GoBGP's parser (the reference) and compares every route.
func TestUpdateMatchesGoBGP(t *testing.T) {
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{IPv4Routes: 3000, IPv6Routes: 1000, Peers: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(&buf, 0)
	var u wire.Update
	n := 0
	for {
		msg, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if wire.MsgType(msg[5]) != wire.MsgRouteMonitoring {
			continue
		}
		ref, err := gbmp.ParseBMPMessage(slices.Clone(msg))
		if err != nil {
			t.Fatalf("GoBGP: %v", err)
		}
		if err := u.Decode(msg[6+42:], true, wire.AddPath{}); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		got, want := mine(t, &u), reference(ref.Body.(*gbmp.BMPRouteMonitoring).BGPUpdate)
		if !slices.Equal(got, want) {
			t.Fatalf("message %d differs:\nmine:   %v\nGoBGP:  %v", n, got, want)
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("compared only %d UPDATEs", n)
	}
}

func mine(t *testing.T, u *wire.Update) []string {
	var out []string
	var a *wire.Attrs
	if len(u.Attrs) > 0 {
		var err error
		if a, err = wire.DecodeAttrs(u.Attrs); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range u.Announced {
		out = append(out, fmt.Sprintf("A %s %v %s %v %v med=%v/%d", n.Prefix, a.ASPath, a.NextHop, a.Communities, a.LargeCommunities, a.HasMED, a.MED))
	}
	for _, n := range u.Withdrawn {
		out = append(out, "W "+n.Prefix.String())
	}
	return out
}

func reference(m *bgp.BGPMessage) []string {
	upd := m.Body.(*bgp.BGPUpdate)
	var asPath []uint32
	var nh netip.Addr
	var comms []wire.Community
	var large []wire.LargeCommunity
	hasMED, med := false, uint32(0)
	var nlri []string
	for _, p := range upd.PathAttributes {
		switch p := p.(type) {
		case *bgp.PathAttributeAsPath:
			for _, s := range p.Value {
				asPath = append(asPath, s.GetAS()...)
			}
		case *bgp.PathAttributeNextHop:
			nh, _ = netip.AddrFromSlice(p.Value.To4())
		case *bgp.PathAttributeMpReachNLRI:
			nh, _ = netip.AddrFromSlice(p.Nexthop)
			nh = nh.Unmap()
			for _, v := range p.Value {
				nlri = append(nlri, v.String())
			}
		case *bgp.PathAttributeCommunities:
			for _, c := range p.Value {
				comms = append(comms, wire.Community(c))
			}
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range p.Values {
				large = append(large, wire.LargeCommunity{Global: c.ASN, Local1: c.LocalData1, Local2: c.LocalData2})
			}
		case *bgp.PathAttributeMultiExitDisc:
			hasMED, med = true, p.Value
		}
	}
	for _, v := range upd.NLRI {
		nlri = append(nlri, v.String())
	}
	var out []string
	for _, p := range nlri {
		out = append(out, fmt.Sprintf("A %s %v %s %v %v med=%v/%d", p, asPath, nh, comms, large, hasMED, med))
	}
	for _, w := range upd.WithdrawnRoutes {
		out = append(out, "W "+w.String())
	}
	return out
}

// addPathUpdate is an IPv4 UPDATE with two NLRI, with or without path IDs.
func addPathUpdate(ids bool) []byte {
	attrs := []byte{0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 1}
	var nlri []byte
	for i, p := range [][]byte{{24, 10, 101, 0}, {24, 10, 102, 0}} {
		if ids {
			nlri = binary.BigEndian.AppendUint32(nlri, uint32(i+1))
		}
		nlri = append(nlri, p...)
	}
	l := 23 + len(attrs) + len(nlri)
	m := bytes.Repeat([]byte{0xff}, 16)
	m = binary.BigEndian.AppendUint16(m, uint16(l))
	m = append(m, 2, 0, 0)
	m = binary.BigEndian.AppendUint16(m, uint16(len(attrs)))
	return append(append(m, attrs...), nlri...)
}

func TestUpdateAddPath(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		addPath bool
		want    []string
		nlriErr bool
	}{
		{"path IDs present and expected", addPathUpdate(true), true, []string{"10.101.0.0/24#1", "10.102.0.0/24#2"}, false},
		{"no path IDs, none expected", addPathUpdate(false), false, []string{"10.101.0.0/24#0", "10.102.0.0/24#0"}, false},
		// GoBGP v3 post-policy: capabilities say path IDs, bytes have none.
		{"path IDs expected but missing", addPathUpdate(false), true, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var u wire.Update
			err := u.Decode(tc.msg, true, wire.AddPath{IPv4: tc.addPath})
			var ne *wire.NLRIError
			if tc.nlriErr {
				if !errors.As(err, &ne) || ne.Family != wire.IPv4Unicast {
					t.Fatalf("error %v, want an IPv4 NLRIError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range u.Announced {
				got = append(got, fmt.Sprintf("%s#%d", n.Prefix, n.PathID))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUpdateEndOfRIB(t *testing.T) {
	v4 := append(bytes.Repeat([]byte{0xff}, 16), 0, 23, 2, 0, 0, 0, 0)
	v6 := append(bytes.Repeat([]byte{0xff}, 16), 0, 29, 2, 0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1)
	for _, tc := range []struct {
		msg  []byte
		want wire.Family
	}{{v4, wire.IPv4Unicast}, {v6, wire.IPv6Unicast}} {
		var u wire.Update
		if err := u.Decode(tc.msg, true, wire.AddPath{}); err != nil {
			t.Fatal(err)
		}
		if !u.EndOfRIB || u.EndOfRIBFamily != tc.want {
			t.Errorf("%x: EndOfRIB %v %v, want %v", tc.msg, u.EndOfRIB, u.EndOfRIBFamily, tc.want)
		}
	}
}

func TestNotificationWords(t *testing.T) {
	tests := []struct {
		code, sub byte
		want      string
	}{
		{4, 0, "Hold Timer Expired (4/0)"},
		{6, 4, "Cease/Administrative Reset (6/4)"},
		{6, 2, "Cease/Administrative Shutdown (6/2)"},
		{3, 11, "UPDATE Message Error/Malformed AS_PATH (3/11)"},
		{9, 9, "code 9 (9/9)"},
	}
	for _, tc := range tests {
		n := append(bytes.Repeat([]byte{0xff}, 16), 0, 21, 3, tc.code, tc.sub)
		d, err := wire.DecodePeerDown(append([]byte{3}, n...))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Notification.String(); got != tc.want {
			t.Errorf("%d/%d: %q, want %q", tc.code, tc.sub, got, tc.want)
		}
	}
}

func TestDecodeStats(t *testing.T) {
	b := binary.BigEndian.AppendUint32(nil, 4)
	b = append(b, 0, 0, 0, 4, 0, 0, 0, 5)                       // rejected prefixes, counter
	b = append(b, 0, 7, 0, 8, 0, 0, 0, 0, 0, 0, 0, 9)           // Adj-RIB-In routes, gauge
	b = append(b, 0, 9, 0, 11, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 3) // per AFI/SAFI
	b = append(b, 0, 99, 0, 3, 1, 2, 3)                         // unknown, skipped
	stats, err := wire.DecodeStats(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 || stats[0].Value != 5 || stats[0].Kind != wire.StatCounter || stats[1].Kind != wire.StatGauge ||
		stats[1].Value != 9 || *stats[2].Family != wire.IPv6Unicast || stats[2].Name() != "adj_rib_in_routes_per_afi_safi" {
		t.Fatalf("stats %+v", stats)
	}
}

// FuzzReader feeds arbitrary streams to the framer and every decoder: none
// may panic, and the framer must stop at the first bad header.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	gen.Write(&buf, gen.Config{IPv4Routes: 20, IPv6Routes: 5, Peers: 2, Seed: 1})
	f.Add(buf.Bytes())
	f.Add(hdr(3, 0, 0))
	f.Add(append(hdr(3, 7, 2), 1))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := wire.NewReader(bytes.NewReader(stream), 0)
		var u wire.Update
		for {
			msg, err := r.Next()
			if err != nil {
				return
			}
			decodeAll(msg, &u)
		}
	})
}

// FuzzUpdate feeds arbitrary BGP UPDATE bodies to the walker and the
// attribute decoder.
func FuzzUpdate(f *testing.F) {
	f.Add(addPathUpdate(true), true)
	f.Add(addPathUpdate(false), false)
	f.Fuzz(func(t *testing.T, msg []byte, ap bool) {
		var u wire.Update
		if err := u.Decode(msg, ap, wire.AddPath{IPv4: ap, IPv6: ap}); err == nil && len(u.Attrs) > 0 {
			wire.DecodeAttrs(u.Attrs)
		}
	})
}

func decodeAll(msg []byte, u *wire.Update) {
	body := msg[6:]
	switch wire.MsgType(msg[5]) {
	case wire.MsgInitiation:
		wire.DecodeInitiation(body)
		return
	case wire.MsgTermination:
		wire.DecodeTermination(body)
		return
	}
	var h wire.PeerHeader
	if wire.DecodePeerHeader(body, &h) != nil {
		return
	}
	rest := body[42:]
	switch wire.MsgType(msg[5]) {
	case wire.MsgRouteMonitoring:
		if u.Decode(rest, !h.TwoByteAS(), wire.AddPath{}) == nil && len(u.Attrs) > 0 {
			wire.DecodeAttrs(u.Attrs)
		}
	case wire.MsgPeerUp:
		wire.DecodePeerUp(rest, h.Flags&wire.FlagV != 0)
	case wire.MsgPeerDown:
		wire.DecodePeerDown(rest)
	case wire.MsgStatisticsReport:
		wire.DecodeStats(rest)
	case wire.MsgRouteMirroring:
		wire.DecodeRouteMirroring(rest)
	}
}

// BenchmarkUpdateDecode measures the hot path: walking one UPDATE.
func BenchmarkUpdateDecode(b *testing.B) {
	msg := addPathUpdate(true)
	var u wire.Update
	b.ReportAllocs()
	for b.Loop() {
		if err := u.Decode(msg, true, wire.AddPath{IPv4: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateDecodeGoBGP is the reference parser on the same message.
func BenchmarkUpdateDecodeGoBGP(b *testing.B) {
	msg := addPathUpdate(true)
	opt := &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_RECEIVE}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bgp.ParseBGPMessage(msg, opt); err != nil {
			b.Fatal(err)
		}
	}
}
