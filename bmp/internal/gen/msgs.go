package gen

import (
	"encoding/binary"
	"net/netip"
)

// Peer names a monitored peer in the messages built below.
type Peer struct {
	// Type is the RFC 7854 peer type (0 global, 1 RD, 2 local, 3 Loc-RIB).
	Type uint8
	// Dist is the peer distinguisher (an RD for type 1).
	Dist uint64
	Addr netip.Addr
	AS   uint32
}

// Message frames a BMP message of type typ from parts.
func Message(typ byte, parts ...[]byte) []byte {
	n := 6
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 6, n)
	b[0], b[5] = 3, typ
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Initiation is an Initiation message with sysName and a sysDescr.
func Initiation(sysName string) []byte {
	return Message(4, tlv(2, []byte(sysName)), tlv(1, []byte("anydiag test router")))
}

// PeerHeader is p's per-peer header, for messages built with Message.
func PeerHeader(p Peer) []byte { return p.header() }

func (p Peer) header() []byte {
	h := make([]byte, 42)
	h[0] = p.Type
	binary.BigEndian.PutUint64(h[2:], p.Dist)
	if p.Addr.Is6() && !p.Addr.Is4In6() {
		h[1] = 0x80
		a := p.Addr.As16()
		copy(h[10:26], a[:])
	} else if p.Addr.IsValid() {
		a := p.Addr.Unmap().As4()
		copy(h[22:26], a[:])
	}
	binary.BigEndian.PutUint32(h[26:], p.AS)
	copy(h[30:34], []byte{192, 0, 2, 1})
	binary.BigEndian.PutUint32(h[34:], 1700000000)
	return h
}

// PeerUp is a Peer Up for p. With addPath both OPENs announce ADD-PATH
// send and receive for IPv4 unicast, so route monitoring carries path IDs.
func PeerUp(p Peer, addPath bool) []byte {
	body := make([]byte, 20)
	copy(body[12:16], []byte{192, 0, 2, 254})
	binary.BigEndian.PutUint16(body[16:], 179)
	binary.BigEndian.PutUint16(body[18:], 40000)
	body = append(body, openWith(65000, addPath)...)
	body = append(body, openWith(p.AS, addPath)...)
	return Message(3, p.header(), body)
}

// PeerDown is a Peer Down for p: the remote system closed the session
// without a notification (reason 4).
func PeerDown(p Peer) []byte { return Message(2, p.header(), []byte{4}) }

// Routes is a route monitoring UPDATE for p announcing the IPv4 prefixes
// nlri (with path IDs when ids is not nil: ids[i] for nlri[i]).
func Routes(p Peer, nlri []netip.Prefix, ids []uint32) []byte {
	attrs := []byte{0x40, 1, 1, 0, 0x40, 2, 6, 2, 1}
	attrs = binary.BigEndian.AppendUint32(attrs, p.AS)
	attrs = append(attrs, 0x40, 3, 4, 192, 0, 2, 1)
	var b []byte
	for i, n := range nlri {
		if ids != nil {
			b = binary.BigEndian.AppendUint32(b, ids[i])
		}
		a := n.Addr().As4()
		b = append(b, byte(n.Bits()))
		b = append(b, a[:(n.Bits()+7)/8]...)
	}
	return Message(0, p.header(), bgpUpdate(nil, attrs, b))
}

// Withdraw is a route monitoring UPDATE for p withdrawing IPv4 prefixes.
func Withdraw(p Peer, nlri []netip.Prefix) []byte {
	var b []byte
	for _, n := range nlri {
		a := n.Addr().As4()
		b = append(b, byte(n.Bits()))
		b = append(b, a[:(n.Bits()+7)/8]...)
	}
	return Message(0, p.header(), bgpUpdate(b, nil, nil))
}

// openWith is open(as), with the ADD-PATH capability for IPv4 unicast
// (send and receive) when addPath.
func openWith(as uint32, addPath bool) []byte {
	caps := []byte{1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4}
	caps = binary.BigEndian.AppendUint32(caps, as)
	if addPath {
		caps = append(caps, 69, 4, 0, 1, 1, 3)
	}
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
