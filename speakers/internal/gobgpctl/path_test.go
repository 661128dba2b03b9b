package gobgpctl

import (
	"net/netip"
	"testing"

	"github.com/anydiag/anydiag/speakers"
)

func TestBuildPathRoundTrip(t *testing.T) {
	med := uint32(50)
	attrs := speakers.Attributes{MED: &med, Prepend: 2, Communities: []speakers.Community{speakers.GracefulShutdown, speakers.Standard(65010, 1), speakers.Large(65010, 4000000000, 0)}}
	for _, p := range []string{"192.0.2.1/32", "2001:db8::1/128"} {
		path, err := BuildPath(netip.MustParsePrefix(p), attrs, 65010, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		pa, err := decodeAttrs(path)
		if err != nil {
			t.Fatal(err)
		}
		if !pa.matches(attrs, 65010, 2) {
			t.Errorf("%s: built path does not match its attributes: %+v", p, pa)
		}
		noLarge := attrs
		noLarge.Communities = attrs.Communities[:2]
		if pa.matches(attrs, 65010, 3) || pa.matches(speakers.Attributes{Prepend: 2}, 65010, 2) || pa.matches(noLarge, 65010, 2) {
			t.Errorf("%s: matches too much", p)
		}
	}
	for _, bad := range []struct {
		p  string
		a  speakers.Attributes
		nh string
	}{
		{"192.0.2.1/24", speakers.Attributes{}, ""},
		{"192.0.2.1/32", speakers.Attributes{Prepend: 33}, ""},
		{"192.0.2.1/32", speakers.Attributes{Prepend: -1}, ""},
		{"192.0.2.1/32", speakers.Attributes{}, "2001:db8::1"},
	} {
		var nh netip.Addr
		if bad.nh != "" {
			nh = netip.MustParseAddr(bad.nh)
		}
		if _, err := BuildPath(netip.MustParsePrefix(bad.p), bad.a, 65010, nh); err == nil {
			t.Errorf("BuildPath(%s, %+v, %s) accepted", bad.p, bad.a, bad.nh)
		}
	}
}
