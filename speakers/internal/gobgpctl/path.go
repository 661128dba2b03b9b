// Package gobgpctl drives a GoBGP v3 server through its API (the same calls
// whether the server is embedded in this process or reached over gRPC):
// it originates and withdraws prefixes and confirms each change in the
// server's Loc-RIB and in the Adj-RIB-Out of every established peer.
package gobgpctl

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/anydiag/anydiag/speakers"
)

// Family returns the GoBGP address family (unicast) of prefix.
func Family(prefix netip.Prefix) *api.Family {
	if prefix.Addr().Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// CheckPrefix refuses prefixes the speakers cannot originate.
func CheckPrefix(prefix netip.Prefix) error {
	if !prefix.IsValid() {
		return fmt.Errorf("invalid prefix")
	}
	if prefix.Masked() != prefix {
		return fmt.Errorf("prefix %s has host bits set", prefix)
	}
	if prefix.Addr().Is4In6() || prefix.Addr().Zone() != "" {
		return fmt.Errorf("prefix %s: write IPv4 prefixes in IPv4 form, without a zone", prefix)
	}
	return nil
}

// Capabilities are the attributes a GoBGP server (embedded or over gRPC)
// sets; the graceful-shutdown drain is the embedded speaker's own.
func Capabilities() speakers.Capabilities {
	return speakers.Capabilities{MED: true, Prepend: true, Communities: true, LargeCommunities: true}
}

// CheckAttributes validates attrs before anything is sent.
func CheckAttributes(attrs speakers.Attributes) error {
	if attrs.Prepend < 0 || attrs.Prepend > 32 {
		return fmt.Errorf("prepend %d out of range 0-32", attrs.Prepend)
	}
	return Capabilities().Check(attrs)
}

// BuildPath makes the GoBGP path that originates prefix with attrs: origin
// IGP, the given next hop (the unspecified address means "self": GoBGP puts
// the session's local address), the MED, asn prepended Prepend times and the
// communities.
func BuildPath(prefix netip.Prefix, attrs speakers.Attributes, asn uint32, nextHop netip.Addr) (*api.Path, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	if err := CheckAttributes(attrs); err != nil {
		return nil, err
	}
	family := Family(prefix)
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: prefix.Addr().String(), PrefixLen: uint32(prefix.Bits())})
	if err != nil {
		return nil, fmt.Errorf("encode NLRI: %w", err)
	}
	if !nextHop.IsValid() {
		nextHop = netip.IPv4Unspecified()
		if prefix.Addr().Is6() {
			nextHop = netip.IPv6Unspecified()
		}
	}
	if nextHop.Is4() != prefix.Addr().Is4() {
		return nil, fmt.Errorf("next hop %s is not of the family of %s", nextHop, prefix)
	}
	attrMsgs := []proto.Message{&api.OriginAttribute{Origin: 0}}
	if prefix.Addr().Is4() {
		attrMsgs = append(attrMsgs, &api.NextHopAttribute{NextHop: nextHop.String()})
	} else {
		attrMsgs = append(attrMsgs, &api.MpReachNLRIAttribute{
			Family:   family,
			NextHops: []string{nextHop.String()},
			Nlris:    []*anypb.Any{nlri},
		})
	}
	if attrs.Prepend > 0 {
		attrMsgs = append(attrMsgs, &api.AsPathAttribute{Segments: []*api.AsSegment{{
			Type:    api.AsSegment_AS_SEQUENCE,
			Numbers: slices.Repeat([]uint32{asn}, attrs.Prepend),
		}}})
	}
	if attrs.MED != nil {
		attrMsgs = append(attrMsgs, &api.MultiExitDiscAttribute{Med: *attrs.MED})
	}
	std, large := splitCommunities(attrs.Communities)
	if len(std) > 0 {
		attrMsgs = append(attrMsgs, &api.CommunitiesAttribute{Communities: std})
	}
	if len(large) > 0 {
		ls := make([]*api.LargeCommunity, len(large))
		for i, c := range large {
			ls[i] = &api.LargeCommunity{GlobalAdmin: c[0], LocalData1: c[1], LocalData2: c[2]}
		}
		attrMsgs = append(attrMsgs, &api.LargeCommunitiesAttribute{Communities: ls})
	}
	pattrs := make([]*anypb.Any, 0, len(attrMsgs))
	for _, m := range attrMsgs {
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("encode attribute: %w", err)
		}
		pattrs = append(pattrs, a)
	}
	return &api.Path{Family: family, Nlri: nlri, Pattrs: pattrs}, nil
}

// pathAttrs is what a listed path carries that the speaker asked for.
type pathAttrs struct {
	med         *uint32
	asPath      []uint32
	communities []uint32
	large       [][3]uint32
}

// splitCommunities returns the wire values of the standard communities and
// the parts of the large ones.
func splitCommunities(cs []speakers.Community) (std []uint32, large [][3]uint32) {
	for _, c := range cs {
		if v, ok := c.Uint32(); ok {
			std = append(std, v)
		} else if g, l1, l2, ok := c.LargeParts(); ok {
			large = append(large, [3]uint32{g, l1, l2})
		}
	}
	return std, large
}

// sameSet reports whether a and b hold the same values, ignoring order and
// repeats.
func sameSet[T comparable](a, b []T, cmp func(x, y T) int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func decodeAttrs(p *api.Path) (pathAttrs, error) {
	var out pathAttrs
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			// Attributes this build of the API does not know cannot be ours.
			continue
		}
		switch v := m.(type) {
		case *api.MultiExitDiscAttribute:
			med := v.Med
			out.med = &med
		case *api.AsPathAttribute:
			for _, s := range v.Segments {
				out.asPath = append(out.asPath, s.Numbers...)
			}
		case *api.CommunitiesAttribute:
			out.communities = append(out.communities, v.Communities...)
		case *api.LargeCommunitiesAttribute:
			for _, c := range v.Communities {
				out.large = append(out.large, [3]uint32{c.GlobalAdmin, c.LocalData1, c.LocalData2})
			}
		}
	}
	return out, nil
}

// matches reports whether a path carries attrs as the speaker sends them.
// ownAS is how many times asn must appear in the AS_PATH: the prepends, plus
// one on eBGP sessions where GoBGP adds its own AS on export.
func (pa pathAttrs) matches(attrs speakers.Attributes, asn uint32, ownAS int) bool {
	switch {
	case attrs.MED == nil && pa.med != nil:
		return false
	case attrs.MED != nil && (pa.med == nil || *pa.med != *attrs.MED):
		return false
	}
	n := 0
	for _, a := range pa.asPath {
		if a == asn {
			n++
		}
	}
	if n != ownAS {
		return false
	}
	std, large := splitCommunities(attrs.Communities)
	return sameSet(std, pa.communities, cmp.Compare[uint32]) &&
		sameSet(large, pa.large, func(x, y [3]uint32) int { return slices.Compare(x[:], y[:]) })
}
