// Package gobgpctl drives a GoBGP v3 server through its API (the same calls
// whether the server is embedded in this process or reached over gRPC):
// it originates and withdraws prefixes and confirms each change in the
// server's Loc-RIB and in the Adj-RIB-Out of every established peer.
package gobgpctl

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/anydiag/anydiag/analyzers/policy"
)

// Family returns the GoBGP address family (unicast) of prefix.
func Family(prefix netip.Prefix) *api.Family {
	if prefix.Addr().Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// ParseCommunity parses an RFC 1997 community written "ASN:VALUE", each half
// a 16-bit number.
func ParseCommunity(s string) (uint32, error) {
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("community %q: want ASN:VALUE", s)
	}
	a, err := strconv.ParseUint(hi, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("community %q: ASN part: %w", s, err)
	}
	v, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("community %q: value part: %w", s, err)
	}
	return uint32(a)<<16 | uint32(v), nil
}

// FormatCommunity writes a community as "ASN:VALUE".
func FormatCommunity(c uint32) string {
	return fmt.Sprintf("%d:%d", c>>16, c&0xffff)
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

// CheckAttributes validates attrs before anything is sent.
func CheckAttributes(attrs policy.Attributes) error {
	if attrs.Prepend < 0 || attrs.Prepend > 32 {
		return fmt.Errorf("prepend %d out of range 0-32", attrs.Prepend)
	}
	for _, c := range attrs.Communities {
		if _, err := ParseCommunity(c); err != nil {
			return err
		}
	}
	return nil
}

// BuildPath makes the GoBGP path that originates prefix with attrs: origin
// IGP, the given next hop (the unspecified address means "self": GoBGP puts
// the session's local address), the MED, asn prepended Prepend times and the
// communities.
func BuildPath(prefix netip.Prefix, attrs policy.Attributes, asn uint32, nextHop netip.Addr) (*api.Path, error) {
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
	if len(attrs.Communities) > 0 {
		cs := make([]uint32, 0, len(attrs.Communities))
		for _, c := range attrs.Communities {
			v, _ := ParseCommunity(c) // checked by CheckAttributes
			cs = append(cs, v)
		}
		attrMsgs = append(attrMsgs, &api.CommunitiesAttribute{Communities: cs})
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
		}
	}
	return out, nil
}

// matches reports whether a path carries attrs as the speaker sends them.
// ownAS is how many times asn must appear in the AS_PATH: the prepends, plus
// one on eBGP sessions where GoBGP adds its own AS on export.
func (pa pathAttrs) matches(attrs policy.Attributes, asn uint32, ownAS int) bool {
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
	want := make([]uint32, 0, len(attrs.Communities))
	for _, c := range attrs.Communities {
		v, _ := ParseCommunity(c)
		want = append(want, v)
	}
	got := slices.Clone(pa.communities)
	slices.Sort(want)
	slices.Sort(got)
	return slices.Equal(slices.Compact(want), slices.Compact(got))
}
