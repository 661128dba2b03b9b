package wire_test

import (
	"strings"
	"testing"

	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

func TestDistinguisher(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		text string // FormatDistinguisher of want; in when empty
	}{
		{"0:64499:14", 64499<<32 | 14, ""},
		{"0:0:0", 0, ""},
		{"0:65535:4294967295", 65535<<32 | 4294967295, ""},
		{"1:192.0.2.1:7", 1<<48 | 0xc0000201<<16 | 7, ""},
		{"2:4226809946:907", 2<<48 | 4226809946<<16 | 907, ""},
		{"2:4226809946:12", 2<<48 | 4226809946<<16 | 12, ""},
		// Without the type, as routers print RDs.
		{"64499:14", 64499<<32 | 14, "0:64499:14"},
		{"4226809946:907", 2<<48 | 4226809946<<16 | 907, "2:4226809946:907"},
		{"192.0.2.1:7", 1<<48 | 0xc0000201<<16 | 7, "1:192.0.2.1:7"},
	}
	for _, tc := range tests {
		got, err := wire.ParseDistinguisher(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
		text := tc.text
		if text == "" {
			text = tc.in
		}
		if s := wire.FormatDistinguisher(tc.want); s != text {
			t.Errorf("Format(%#x) = %q, want %q", tc.want, s, text)
		}
	}
	// GoBGP's reading of the same 8 bytes agrees with ours.
	// (GoBGP prints 4-byte ASNs in asdot: 4226809946 = 64496 × 65536 + 90.)
	for _, tc := range []struct{ s, gobgp string }{{"0:64499:14", "64499:14"}, {"1:192.0.2.1:7", "192.0.2.1:7"}, {"2:4226809946:907", "64496.90:907"}} {
		d, _ := wire.ParseDistinguisher(tc.s)
		var b [8]byte
		for i := range b {
			b[i] = byte(d >> (56 - 8*i))
		}
		rd := bgp.GetRouteDistinguisher(b[:])
		if rd.String() != tc.gobgp {
			t.Errorf("%s: GoBGP reads %s, want %s", tc.s, rd.String(), tc.gobgp)
		}
	}
	if s := wire.FormatDistinguisher(3<<48 | 0xabc); s != "3:0x000000000abc" {
		t.Errorf("unknown type: %q", s)
	}
	for _, bad := range []string{"", "x", "1:2:3:4", "3:1:2", "0:70000:1", "1:192.0.2.1:70000", "2:1:70000", "1:64500:1", "0:192.0.2.1:1", "a:b", "2001:db8::1:5"} {
		if _, err := wire.ParseDistinguisher(bad); err == nil || !strings.Contains(err.Error(), "TYPE:ADMIN:NUMBER") {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
	for _, pt := range []struct {
		s string
		t wire.PeerType
	}{{"global", 0}, {"rd", 1}, {"l3vpn", 1}, {"local", 2}, {"loc-rib", 3}} {
		if got, ok := wire.ParsePeerType(pt.s); !ok || got != pt.t {
			t.Errorf("ParsePeerType(%q) = %v %v", pt.s, got, ok)
		}
	}
	if _, ok := wire.ParsePeerType("vpn"); ok {
		t.Error("vpn parsed")
	}
}

// FuzzDistinguisher: any text either is refused or reads back to itself
// through Format (canonically).
func FuzzDistinguisher(f *testing.F) {
	for _, s := range []string{"0:64499:14", "1:192.0.2.1:7", "2:4226809946:907", "64499:1", "1.2.3.4:5", "::", "0:0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := wire.ParseDistinguisher(s)
		if err != nil {
			return
		}
		text := wire.FormatDistinguisher(d)
		d2, err := wire.ParseDistinguisher(text)
		if err != nil || d2 != d {
			t.Fatalf("%q → %#x → %q → %#x, %v", s, d, text, d2, err)
		}
	})
}
