package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Origin is the ORIGIN attribute.
type Origin uint8

// Origin values (RFC 4271).
const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

// String is "igp", "egp" or "incomplete", as the HTTP API prints it.
func (o Origin) String() string {
	switch o {
	case OriginIGP:
		return "igp"
	case OriginEGP:
		return "egp"
	case OriginIncomplete:
		return "incomplete"
	}
	return "origin-" + strconv.Itoa(int(o))
}

// Community is an RFC 1997 community.
type Community uint32

// String is "ASN:value".
func (c Community) String() string {
	return strconv.Itoa(int(c>>16)) + ":" + strconv.Itoa(int(c&0xffff))
}

// LargeCommunity is an RFC 8092 large community.
type LargeCommunity struct {
	Global, Local1, Local2 uint32
}

// String is "global:local1:local2".
func (c LargeCommunity) String() string {
	return strconv.FormatUint(uint64(c.Global), 10) + ":" + strconv.FormatUint(uint64(c.Local1), 10) + ":" + strconv.FormatUint(uint64(c.Local2), 10)
}

// AS_PATH segment types.
const (
	SegmentSet       = 1
	SegmentSequence  = 2
	SegmentConfedSeq = 3
	SegmentConfedSet = 4
)

// Attrs is a decoded attribute set. It is shared between every route that
// carries it: treat it as read-only.
type Attrs struct {
	Origin    Origin
	HasOrigin bool
	// ASPath is the AS path flattened in order, AS_SET members included
	// where the set stands; AS4_PATH is merged in when AS_PATH uses 2-byte
	// ASNs (RFC 6793 4.2.3).
	ASPath []uint32
	// HasASSet is set when the path contains an AS_SET or confederation set.
	HasASSet bool
	// NextHop is NEXT_HOP, or MP_REACH_NLRI's global next hop.
	NextHop netip.Addr
	// NextHopLinkLocal is MP_REACH_NLRI's second (link-local) IPv6 next hop.
	NextHopLinkLocal netip.Addr
	MED              uint32
	HasMED           bool
	LocalPref        uint32
	HasLocalPref     bool
	AtomicAggregate  bool
	AggregatorAS     uint32
	AggregatorAddr   netip.Addr
	Communities      []Community
	LargeCommunities []LargeCommunity
	// ExtCommunities are RFC 4360 extended communities, raw.
	ExtCommunities [][8]byte
	OriginatorID   netip.Addr
	ClusterList    []netip.Addr
	// Unknown lists the type codes of attributes not decoded.
	Unknown []uint8
}

// DecodeAttrs decodes a canonical attribute set (Update.Attrs).
func DecodeAttrs(canon []byte) (*Attrs, error) {
	if len(canon) == 0 {
		return nil, fmt.Errorf("attributes: empty set")
	}
	as4 := canon[0]&canonAS4 != 0
	b := canon[1:]
	a := &Attrs{}
	var as4Path []uint32
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, short("path attribute header", len(b), 3)
		}
		flags, typ := b[0], b[1]
		hl, l := 3, int(b[2])
		if flags&0x10 != 0 {
			if len(b) < 4 {
				return nil, short("extended path attribute header", len(b), 4)
			}
			hl, l = 4, int(binary.BigEndian.Uint16(b[2:]))
		}
		if len(b) < hl+l {
			return nil, short(fmt.Sprintf("attribute %d", typ), len(b)-hl, l)
		}
		v := b[hl : hl+l]
		b = b[hl+l:]
		var err error
		switch typ {
		case AttrOrigin:
			if l != 1 {
				return nil, fmt.Errorf("ORIGIN: length %d, want 1", l)
			}
			a.Origin, a.HasOrigin = Origin(v[0]), true
		case AttrASPath:
			a.ASPath, a.HasASSet, err = decodeASPath(a.ASPath[:0], v, as4)
			if err != nil {
				return nil, fmt.Errorf("AS_PATH: %w", err)
			}
		case AttrAS4Path:
			if as4Path, _, err = decodeASPath(nil, v, true); err != nil {
				return nil, fmt.Errorf("AS4_PATH: %w", err)
			}
		case AttrNextHop:
			if l != 4 {
				return nil, fmt.Errorf("NEXT_HOP: length %d, want 4", l)
			}
			a.NextHop = netip.AddrFrom4([4]byte(v))
		case attrMPNextHop:
			if err := a.decodeMPNextHop(v); err != nil {
				return nil, err
			}
		case AttrMED:
			if l != 4 {
				return nil, fmt.Errorf("MULTI_EXIT_DISC: length %d, want 4", l)
			}
			a.MED, a.HasMED = binary.BigEndian.Uint32(v), true
		case AttrLocalPref:
			if l != 4 {
				return nil, fmt.Errorf("LOCAL_PREF: length %d, want 4", l)
			}
			a.LocalPref, a.HasLocalPref = binary.BigEndian.Uint32(v), true
		case AttrAtomicAggregate:
			a.AtomicAggregate = true
		case AttrAggregator:
			switch {
			case l == 8:
				a.AggregatorAS, a.AggregatorAddr = binary.BigEndian.Uint32(v), netip.AddrFrom4([4]byte(v[4:]))
			case l == 6:
				a.AggregatorAS, a.AggregatorAddr = uint32(binary.BigEndian.Uint16(v)), netip.AddrFrom4([4]byte(v[2:]))
			default:
				return nil, fmt.Errorf("AGGREGATOR: length %d, want 6 or 8", l)
			}
		case AttrAS4Aggregator:
			if l != 8 {
				return nil, fmt.Errorf("AS4_AGGREGATOR: length %d, want 8", l)
			}
			if !as4 {
				a.AggregatorAS, a.AggregatorAddr = binary.BigEndian.Uint32(v), netip.AddrFrom4([4]byte(v[4:]))
			}
		case AttrCommunities:
			if l%4 != 0 {
				return nil, fmt.Errorf("COMMUNITIES: length %d is not a multiple of 4", l)
			}
			a.Communities = make([]Community, 0, l/4)
			for i := 0; i < l; i += 4 {
				a.Communities = append(a.Communities, Community(binary.BigEndian.Uint32(v[i:])))
			}
		case AttrLargeCommunity:
			if l%12 != 0 {
				return nil, fmt.Errorf("LARGE_COMMUNITY: length %d is not a multiple of 12", l)
			}
			a.LargeCommunities = make([]LargeCommunity, 0, l/12)
			for i := 0; i < l; i += 12 {
				a.LargeCommunities = append(a.LargeCommunities, LargeCommunity{
					Global: binary.BigEndian.Uint32(v[i:]), Local1: binary.BigEndian.Uint32(v[i+4:]), Local2: binary.BigEndian.Uint32(v[i+8:]),
				})
			}
		case AttrExtCommunities:
			if l%8 != 0 {
				return nil, fmt.Errorf("EXTENDED_COMMUNITIES: length %d is not a multiple of 8", l)
			}
			for i := 0; i < l; i += 8 {
				a.ExtCommunities = append(a.ExtCommunities, [8]byte(v[i:i+8]))
			}
		case AttrOriginatorID:
			if l != 4 {
				return nil, fmt.Errorf("ORIGINATOR_ID: length %d, want 4", l)
			}
			a.OriginatorID = netip.AddrFrom4([4]byte(v))
		case AttrClusterList:
			if l%4 != 0 {
				return nil, fmt.Errorf("CLUSTER_LIST: length %d is not a multiple of 4", l)
			}
			for i := 0; i < l; i += 4 {
				a.ClusterList = append(a.ClusterList, netip.AddrFrom4([4]byte(v[i:i+4])))
			}
		default:
			a.Unknown = append(a.Unknown, typ)
		}
	}
	if !as4 && len(as4Path) > 0 && len(as4Path) <= len(a.ASPath) {
		// RFC 6793 4.2.3: keep AS_PATH's leading ASNs that AS4_PATH lacks,
		// then AS4_PATH. Counting flattened ASNs equals counting path length
		// as long as neither path holds an AS_SET, the common case; with sets
		// the merged path is still made only of ASNs the router sent.
		merged := append(a.ASPath[:len(a.ASPath)-len(as4Path)], as4Path...)
		a.ASPath = merged
	}
	return a, nil
}

func (a *Attrs) decodeMPNextHop(v []byte) error {
	if len(v) < 2 {
		return short("MP_REACH_NLRI next hop", len(v), 2)
	}
	nh := v[2:]
	switch len(nh) {
	case 0:
	case 4:
		a.NextHop = netip.AddrFrom4([4]byte(nh))
	case 16:
		a.NextHop = netip.AddrFrom16([16]byte(nh))
	case 32:
		a.NextHop = netip.AddrFrom16([16]byte(nh[:16]))
		a.NextHopLinkLocal = netip.AddrFrom16([16]byte(nh[16:]))
	default:
		return fmt.Errorf("MP_REACH_NLRI: next hop of %d bytes", len(nh))
	}
	if a.NextHop.Is4In6() {
		a.NextHop = a.NextHop.Unmap()
	}
	return nil
}

// decodeASPath appends the path's ASNs to dst. width is 4 bytes when as4.
func decodeASPath(dst []uint32, v []byte, as4 bool) ([]uint32, bool, error) {
	w := 2
	if as4 {
		w = 4
	}
	hasSet := false
	for len(v) > 0 {
		if len(v) < 2 {
			return dst, hasSet, short("segment header", len(v), 2)
		}
		t, n := v[0], int(v[1])
		if t < SegmentSet || t > SegmentConfedSet {
			return dst, hasSet, fmt.Errorf("segment type %d", t)
		}
		if len(v) < 2+n*w {
			return dst, hasSet, fmt.Errorf("segment of %d %d-byte ASNs, %d bytes left: %w", n, w, len(v)-2, errShort)
		}
		if t == SegmentSet || t == SegmentConfedSet {
			hasSet = true
		}
		for i := 0; i < n; i++ {
			if as4 {
				dst = append(dst, binary.BigEndian.Uint32(v[2+4*i:]))
			} else {
				dst = append(dst, uint32(binary.BigEndian.Uint16(v[2+2*i:])))
			}
		}
		v = v[2+n*w:]
	}
	return dst, hasSet, nil
}
