package gobgpctl

import (
	"net/netip"
	"testing"

	"github.com/anydiag/anydiag/analyzers/policy"
)

func TestParseCommunity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"65535:0", 0xffff0000, true}, {"0:1", 1, true}, {"65010:7", 65010<<16 | 7, true},
		{"65536:0", 0, false}, {"1", 0, false}, {"a:b", 0, false}, {"1:-1", 0, false},
	} {
		got, err := ParseCommunity(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCommunity(%q) = %d, %v", tc.in, got, err)
		}
		if tc.ok && FormatCommunity(got) != tc.in {
			t.Errorf("FormatCommunity(%d) = %q", got, FormatCommunity(got))
		}
	}
}

func TestBuildPathRoundTrip(t *testing.T) {
	med := uint32(50)
	attrs := policy.Attributes{MED: &med, Prepend: 2, Communities: []string{"65535:0", "65010:1"}}
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
		if pa.matches(attrs, 65010, 3) || pa.matches(policy.Attributes{Prepend: 2}, 65010, 2) {
			t.Errorf("%s: matches too much", p)
		}
	}
	for _, bad := range []struct {
		p  string
		a  policy.Attributes
		nh string
	}{
		{"192.0.2.1/24", policy.Attributes{}, ""},
		{"192.0.2.1/32", policy.Attributes{Prepend: 33}, ""},
		{"192.0.2.1/32", policy.Attributes{Communities: []string{"x"}}, ""},
		{"192.0.2.1/32", policy.Attributes{}, "2001:db8::1"},
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
