// Package gen writes synthetic BMP streams shaped like real full-table feeds,
// for benchmarks and tests of the station.
package gen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
)

// Config shapes a stream.
type Config struct {
	// IPv4Routes and IPv6Routes are the distinct prefixes, spread over Peers
	// peers (each prefix is announced by one peer).
	IPv4Routes, IPv6Routes int
	Peers                  int
	// Seed makes the stream reproducible.
	Seed uint64
}

// Stats describes what Write produced.
type Stats struct {
	Messages, Updates, Routes int
	Bytes                     int64
}

// Write writes an Initiation, a Peer Up per peer, then route monitoring
// UPDATEs: AS paths of 1 to 9 ASNs (mostly 3 to 6, 4-byte ASNs included),
// 0 to 8 communities, a large community on a fifth of them, MED on a third,
// and 1 to 8 prefixes per UPDATE (2.8 on average, as in real table dumps),
// then an End-of-RIB per family and peer.
func Write(w io.Writer, cfg Config) (Stats, error) {
	if cfg.Peers < 1 {
		cfg.Peers = 1
	}
	g := &writer{w: w, rnd: rand.New(rand.NewPCG(cfg.Seed, 42))}
	g.msg(4, nil, tlv(2, []byte("bench-router")), tlv(1, []byte("anydiag generated feed")))
	for p := 0; p < cfg.Peers; p++ {
		body := make([]byte, 20)
		copy(body[12:16], []byte{192, 0, 2, 254})
		binary.BigEndian.PutUint16(body[16:], 179)
		binary.BigEndian.PutUint16(body[18:], uint16(40000+p))
		body = append(body, open(65000)...)
		body = append(body, open(peerAS(p))...)
		g.msg(3, g.peerHeader(p), body)
	}
	v4, v6 := 0, 0
	for v4 < cfg.IPv4Routes || v6 < cfg.IPv6Routes {
		p := g.rnd.IntN(cfg.Peers)
		n := g.prefixesPerUpdate()
		if v4 < cfg.IPv4Routes {
			n = min(n, cfg.IPv4Routes-v4)
			g.update(p, v4, n, false)
			v4 += n
		} else {
			n = min(n, cfg.IPv6Routes-v6)
			g.update(p, v6, n, true)
			v6 += n
		}
		g.st.Routes += n
	}
	for p := 0; p < cfg.Peers; p++ {
		g.msg(0, g.peerHeader(p), bgpUpdate(nil, nil, nil))
		g.msg(0, g.peerHeader(p), bgpUpdate(nil, []byte{0x80, 15, 3, 0, 2, 1}, nil))
	}
	return g.st, g.err
}

func peerAS(p int) uint32 { return 64500 + uint32(p)*1000 + 4200000000*uint32(p%2) }

type writer struct {
	w   io.Writer
	rnd *rand.Rand
	st  Stats
	err error
	buf []byte
}

func (g *writer) peerHeader(p int) []byte {
	h := make([]byte, 42)
	copy(h[22:26], netip.AddrFrom4([4]byte{192, 0, 2, byte(p + 1)}).AsSlice())
	binary.BigEndian.PutUint32(h[26:], peerAS(p))
	copy(h[30:34], []byte{192, 0, 2, byte(p + 1)})
	binary.BigEndian.PutUint32(h[34:], 1700000000)
	return h
}

func (g *writer) msg(typ byte, parts ...[]byte) {
	if g.err != nil {
		return
	}
	n := 6
	for _, p := range parts {
		n += len(p)
	}
	g.buf = append(g.buf[:0], 3, 0, 0, 0, 0, typ)
	binary.BigEndian.PutUint32(g.buf[1:], uint32(n))
	for _, p := range parts {
		g.buf = append(g.buf, p...)
	}
	_, g.err = g.w.Write(g.buf)
	g.st.Messages++
	g.st.Bytes += int64(n)
}

func (g *writer) prefixesPerUpdate() int {
	// Real dumps: most UPDATEs carry one or two prefixes, a tail carries many.
	switch r := g.rnd.IntN(100); {
	case r < 35:
		return 1
	case r < 60:
		return 2
	case r < 75:
		return 3
	case r < 85:
		return 4
	default:
		return 5 + g.rnd.IntN(4)
	}
}

func (g *writer) update(p, first, n int, v6 bool) {
	var attrs []byte
	attrs = append(attrs, 0x40, 1, 1, byte(g.rnd.IntN(3)))
	plen := 1 + g.rnd.IntN(3) + g.rnd.IntN(3) + g.rnd.IntN(4)
	path := []byte{2, byte(plen)}
	path = binary.BigEndian.AppendUint32(path, peerAS(p))
	for i := 1; i < plen; i++ {
		as := uint32(1 + g.rnd.IntN(65000))
		if g.rnd.IntN(5) == 0 {
			as = 131072 + uint32(g.rnd.IntN(300000))
		}
		path = binary.BigEndian.AppendUint32(path, as)
	}
	attrs = append(attrs, 0x40, 2, byte(len(path)))
	attrs = append(attrs, path...)
	if !v6 {
		attrs = append(attrs, 0x40, 3, 4, 192, 0, 2, byte(p+1))
	}
	if g.rnd.IntN(3) == 0 {
		attrs = binary.BigEndian.AppendUint32(append(attrs, 0x80, 4, 4), uint32(g.rnd.IntN(1000)))
	}
	if nc := g.rnd.IntN(9); nc > 0 {
		attrs = append(attrs, 0xc0, 8, byte(4*nc))
		for i := 0; i < nc; i++ {
			attrs = binary.BigEndian.AppendUint32(attrs, uint32(peerAS(p)&0xffff)<<16|uint32(g.rnd.IntN(3000)))
		}
	}
	if g.rnd.IntN(5) == 0 {
		attrs = append(attrs, 0xc0, 32, 12)
		attrs = binary.BigEndian.AppendUint32(attrs, peerAS(p))
		attrs = binary.BigEndian.AppendUint32(attrs, 1)
		attrs = binary.BigEndian.AppendUint32(attrs, uint32(g.rnd.IntN(100)))
	}
	var nlri []byte
	for i := first; i < first+n; i++ {
		if v6 {
			// From 2a00::, one /48 per index.
			bits := 48
			var a [16]byte
			binary.BigEndian.PutUint64(a[:], 0x2a00000000000000+uint64(i)<<16)
			nlri = append(nlri, byte(bits))
			nlri = append(nlri, a[:(bits+7)/8]...)
		} else {
			// From 16.0.0.0, one /22 block per index, mostly announced as /24.
			bits := 24
			if r := g.rnd.IntN(10); r < 2 {
				bits = 22 + r
			}
			a := 0x10000000 + uint32(i)<<10
			nlri = append(nlri, byte(bits))
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], a)
			nlri = append(nlri, b[:(bits+7)/8]...)
		}
	}
	if v6 {
		mp := []byte{0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(p + 1), 0}
		mp = append(mp, nlri...)
		attrs = append(attrs, 0x90, 14, byte(len(mp)>>8), byte(len(mp)))
		attrs = append(attrs, mp...)
		nlri = nil
	}
	g.msg(0, g.peerHeader(p), bgpUpdate(nil, attrs, nlri))
	g.st.Updates++
}

func bgpUpdate(withdrawn, attrs, nlri []byte) []byte {
	l := 19 + 2 + len(withdrawn) + 2 + len(attrs) + len(nlri)
	m := make([]byte, 16, l)
	for i := range m {
		m[i] = 0xff
	}
	m = binary.BigEndian.AppendUint16(m, uint16(l))
	m = append(m, 2)
	m = binary.BigEndian.AppendUint16(m, uint16(len(withdrawn)))
	m = append(m, withdrawn...)
	m = binary.BigEndian.AppendUint16(m, uint16(len(attrs)))
	m = append(m, attrs...)
	return append(m, nlri...)
}

// open is a BGP OPEN with multiprotocol IPv4/IPv6 unicast and 4-byte AS.
func open(as uint32) []byte {
	caps := []byte{1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4}
	caps = binary.BigEndian.AppendUint32(caps, as)
	opt := append([]byte{2, byte(len(caps))}, caps...)
	l := 29 + len(opt)
	m := make([]byte, 16, l)
	for i := range m {
		m[i] = 0xff
	}
	m = binary.BigEndian.AppendUint16(m, uint16(l))
	m = append(m, 1, 4, 0x5b, 0xa0, 0, 90)
	m = binary.BigEndian.AppendUint32(m, as)
	m = append(m, byte(len(opt)))
	return append(m, opt...)
}

func tlv(t uint16, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, t)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// String summarizes the stats.
func (s Stats) String() string {
	return fmt.Sprintf("%d messages, %d UPDATEs, %d routes, %d bytes", s.Messages, s.Updates, s.Routes, s.Bytes)
}
