package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// BGP path attribute type codes the decoder treats specially.
const (
	AttrOrigin          = 1
	AttrASPath          = 2
	AttrNextHop         = 3
	AttrMED             = 4
	AttrLocalPref       = 5
	AttrAtomicAggregate = 6
	AttrAggregator      = 7
	AttrCommunities     = 8
	AttrOriginatorID    = 9
	AttrClusterList     = 10
	AttrMPReach         = 14
	AttrMPUnreach       = 15
	AttrExtCommunities  = 16
	AttrAS4Path         = 17
	AttrAS4Aggregator   = 18
	AttrLargeCommunity  = 32

	// attrMPNextHop is the synthetic attribute that carries MP_REACH's next
	// hop in a canonical attribute set. Type 0 is reserved on the wire, so
	// the decoder drops any type-0 attribute it receives.
	attrMPNextHop = 0
)

// canonAS4 is the canonical attribute set's leading flag: its AS_PATH and
// AGGREGATOR use 4-byte ASNs.
const canonAS4 = 0x01

// NLRI is one prefix of an UPDATE with its ADD-PATH path ID (zero without
// ADD-PATH).
type NLRI struct {
	Prefix netip.Prefix
	PathID uint32
}

// AddPath says, per family the RIB keeps, whether NLRI carry path IDs.
type AddPath struct {
	IPv4, IPv6 bool
	// AnyPathID accepts path IDs of 2^24 and above. Without it they are
	// errors: NLRI without path IDs read as if they had them yield such IDs
	// (the "path ID" is then a prefix length and address bytes, 0x180a6500
	// for 10.101.0.0/24), while senders number paths from 1 upwards.
	AnyPathID bool
}

// For reports the setting for f.
func (a AddPath) For(f Family) bool {
	if f == IPv6Unicast {
		return a.IPv6
	}
	return a.IPv4
}

// Toggle returns a with f's setting flipped.
func (a AddPath) Toggle(f Family) AddPath {
	if f == IPv6Unicast {
		a.IPv6 = !a.IPv6
	} else {
		a.IPv4 = !a.IPv4
	}
	return a
}

// NLRIError reports NLRI of one family that do not parse with the ADD-PATH
// setting used; the caller may retry with the setting toggled, since senders
// get ADD-PATH wrong (GoBGP v3 omits path IDs in post-policy and Loc-RIB).
type NLRIError struct {
	Family Family
	Err    error
}

func (e *NLRIError) Error() string { return fmt.Sprintf("%s NLRI: %v", e.Family, e.Err) }

func (e *NLRIError) Unwrap() error { return e.Err }

// Update is a decoded BGP UPDATE. Its slices are reused by the next Decode:
// copy what must outlive it.
type Update struct {
	// Withdrawn and Announced hold the IPv4 and IPv6 unicast NLRI.
	Withdrawn []NLRI
	Announced []NLRI
	// Attrs is the canonical attribute set: a flag byte, every path attribute
	// except MP_REACH/MP_UNREACH as received, then MP_REACH's next hop as a
	// synthetic attribute. Equal sets are byte-equal, which is what interning
	// keys on; DecodeAttrs reads it. Empty when the UPDATE has no attributes.
	Attrs []byte
	// EndOfRIB is set for an End-of-RIB marker (RFC 4724) of EndOfRIBFamily.
	EndOfRIB       bool
	EndOfRIBFamily Family
	// OtherFamilies counts MP_REACH/MP_UNREACH attributes of families the
	// RIB does not keep (VPN, flowspec...), which are skipped.
	OtherFamilies int
}

// Decode reads msg, a whole BGP UPDATE message (19-byte header first). as4
// says whether AS_PATH uses 4-byte ASNs; ap which families carry path IDs.
// It allocates only when its slices must grow.
func (u *Update) Decode(msg []byte, as4 bool, ap AddPath) error {
	u.Withdrawn, u.Announced, u.Attrs = u.Withdrawn[:0], u.Announced[:0], u.Attrs[:0]
	u.EndOfRIB, u.OtherFamilies = false, 0
	if len(msg) < 23 {
		return short("UPDATE", len(msg), 23)
	}
	if l := int(binary.BigEndian.Uint16(msg[16:18])); l != len(msg) {
		return fmt.Errorf("UPDATE: header length %d, message is %d bytes", l, len(msg))
	}
	if msg[18] != 2 {
		return fmt.Errorf("UPDATE: BGP message type %d, want 2", msg[18])
	}
	b := msg[19:]
	wl := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+wl+2 {
		return fmt.Errorf("UPDATE: withdrawn routes length %d exceeds the message: %w", wl, errShort)
	}
	var err error
	if u.Withdrawn, err = appendPrefixes(u.Withdrawn, b[2:2+wl], false, ap.IPv4, ap.AnyPathID); err != nil {
		return &NLRIError{Family: IPv4Unicast, Err: fmt.Errorf("withdrawn routes: %w", err)}
	}
	b = b[2+wl:]
	al := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+al {
		return fmt.Errorf("UPDATE: path attributes length %d exceeds the message: %w", al, errShort)
	}
	attrs, nlri := b[2:2+al], b[2+al:]
	if wl == 0 && al == 0 && len(nlri) == 0 {
		u.EndOfRIB, u.EndOfRIBFamily = true, IPv4Unicast
		return nil
	}
	var mpNH []byte
	var mpNHAFI uint16
	nAttrs := 0
	if al > 0 {
		flag := byte(0)
		if as4 {
			flag = canonAS4
		}
		u.Attrs = append(u.Attrs, flag)
	}
	for len(attrs) > 0 {
		if len(attrs) < 3 {
			return short("path attribute header", len(attrs), 3)
		}
		flags, typ := attrs[0], attrs[1]
		hl, l := 3, 0
		if flags&0x10 != 0 {
			if len(attrs) < 4 {
				return short("extended path attribute header", len(attrs), 4)
			}
			hl, l = 4, int(binary.BigEndian.Uint16(attrs[2:]))
		} else {
			l = int(attrs[2])
		}
		if len(attrs) < hl+l {
			return fmt.Errorf("UPDATE: attribute %d: length %d, %d bytes left: %w", typ, l, len(attrs)-hl, errShort)
		}
		v := attrs[hl : hl+l]
		switch typ {
		case AttrMPReach:
			if len(v) < 5 {
				return short("MP_REACH_NLRI", len(v), 5)
			}
			f := Family{AFI: binary.BigEndian.Uint16(v), SAFI: v[2]}
			nhl := int(v[3])
			if len(v) < 5+nhl {
				return short("MP_REACH_NLRI next hop", len(v)-5, nhl)
			}
			if f != IPv4Unicast && f != IPv6Unicast {
				u.OtherFamilies++
				break
			}
			mpNH, mpNHAFI = v[4:4+nhl], f.AFI
			if u.Announced, err = appendPrefixes(u.Announced, v[5+nhl:], f == IPv6Unicast, ap.For(f), ap.AnyPathID); err != nil {
				return &NLRIError{Family: f, Err: fmt.Errorf("MP_REACH_NLRI: %w", err)}
			}
		case AttrMPUnreach:
			if len(v) < 3 {
				return short("MP_UNREACH_NLRI", len(v), 3)
			}
			f := Family{AFI: binary.BigEndian.Uint16(v), SAFI: v[2]}
			if len(v) == 3 && al == hl+l && wl == 0 && len(nlri) == 0 {
				u.EndOfRIB, u.EndOfRIBFamily = true, f
				u.Attrs = u.Attrs[:0]
				return nil
			}
			if f != IPv4Unicast && f != IPv6Unicast {
				u.OtherFamilies++
				break
			}
			if u.Withdrawn, err = appendPrefixes(u.Withdrawn, v[3:], f == IPv6Unicast, ap.For(f), ap.AnyPathID); err != nil {
				return &NLRIError{Family: f, Err: fmt.Errorf("MP_UNREACH_NLRI: %w", err)}
			}
		case attrMPNextHop:
		default:
			u.Attrs = append(u.Attrs, attrs[:hl+l]...)
			nAttrs++
		}
		attrs = attrs[hl+l:]
	}
	if mpNH != nil {
		if len(mpNH) > 253 {
			return fmt.Errorf("UPDATE: MP_REACH_NLRI next hop of %d bytes", len(mpNH))
		}
		u.Attrs = append(u.Attrs, 0, attrMPNextHop, byte(2+len(mpNH)), byte(mpNHAFI>>8), byte(mpNHAFI))
		u.Attrs = append(u.Attrs, mpNH...)
		nAttrs++
	}
	if nAttrs == 0 {
		u.Attrs = u.Attrs[:0]
	}
	if u.Announced, err = appendPrefixes(u.Announced, nlri, false, ap.IPv4, ap.AnyPathID); err != nil {
		return &NLRIError{Family: IPv4Unicast, Err: fmt.Errorf("NLRI: %w", err)}
	}
	return nil
}

// appendPrefixes reads RFC 4271 / RFC 4760 prefixes, each preceded by a
// 4-byte path ID when addPath. Host bits beyond the length are cleared so that
// equal prefixes compare equal.
func appendPrefixes(dst []NLRI, b []byte, v6, addPath, anyID bool) ([]NLRI, error) {
	maxBits := 32
	if v6 {
		maxBits = 128
	}
	for len(b) > 0 {
		var id uint32
		if addPath {
			if len(b) < 5 {
				return dst, fmt.Errorf("path ID and length need 5 bytes, %d left: %w", len(b), errShort)
			}
			id = binary.BigEndian.Uint32(b)
			if id >= 1<<24 && !anyID {
				return dst, fmt.Errorf("implausible path ID %#x: NLRI probably lack path IDs", id)
			}
			b = b[4:]
		}
		bits := int(b[0])
		if bits > maxBits {
			return dst, fmt.Errorf("prefix length %d exceeds %d", bits, maxBits)
		}
		n := (bits + 7) / 8
		if len(b) < 1+n {
			return dst, fmt.Errorf("/%d prefix needs %d bytes, %d left: %w", bits, n, len(b)-1, errShort)
		}
		var p netip.Prefix
		if v6 {
			var a [16]byte
			copy(a[:], b[1:1+n])
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits)
		} else {
			var a [4]byte
			copy(a[:], b[1:1+n])
			p = netip.PrefixFrom(netip.AddrFrom4(a), bits)
		}
		if bits%8 != 0 {
			p = p.Masked()
		}
		dst = append(dst, NLRI{Prefix: p, PathID: id})
		b = b[1+n:]
	}
	return dst, nil
}
