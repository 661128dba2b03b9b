package speakers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseCommunity(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Community
		str     string // String() of the result; "" means in
		wantErr string // substring of the error; "" means accepted
	}{
		{in: "65535:0", want: GracefulShutdown},
		{in: "0:0", want: Community{}},
		{in: "0:1", want: Standard(0, 1)},
		{in: "65010:7", want: Standard(65010, 7)},
		{in: "65535:65535", want: Standard(65535, 65535)},
		{in: "65010:1:2", want: Large(65010, 1, 2)},
		{in: "4294967295:4294967295:4294967295", want: Large(1<<32-1, 1<<32-1, 1<<32-1)},
		{in: "0:0:0", want: Large(0, 0, 0)},
		{in: "GRACEFUL_SHUTDOWN", want: GracefulShutdown, str: "65535:0"},
		{in: "graceful-shutdown", want: GracefulShutdown, str: "65535:0"},
		{in: "NO_EXPORT", want: NoExport, str: "65535:65281"},
		{in: "no-advertise", want: NoAdvertise, str: "65535:65282"},
		{in: "BLACKHOLE", want: Blackhole, str: "65535:666"},
		{in: "NO_EXPORT_SUBCONFED", want: NoExportSubconfed, str: "65535:65283"},
		{in: "NOPEER", want: NoPeer, str: "65535:65284"},
		// Leading zeros are refused: two spellings of one community in a
		// configuration would compare unequal as text.
		{in: "065535:0", wantErr: `leading zero in "065535" (write 65535)`},
		{in: "65535:00", wantErr: "leading zero"},
		{in: "65010:01:2", wantErr: "leading zero"},
		{in: "65536:0", wantErr: "65536 is over 65535"},
		{in: "1:65536", wantErr: "over 65535"},
		{in: "4294967296:0:0", wantErr: "over 4294967295"},
		{in: "99999999999999999999:0", wantErr: "over 65535"},
		{in: "1", wantErr: "want ASN:VALUE"},
		{in: "", wantErr: "want ASN:VALUE"},
		{in: "1:2:3:4", wantErr: "want ASN:VALUE"},
		{in: "1:", wantErr: "empty part"},
		{in: ":1", wantErr: "empty part"},
		{in: "a:b", wantErr: "not a decimal number"},
		{in: "1:-1", wantErr: "not a decimal number"},
		{in: "+1:1", wantErr: "not a decimal number"},
		{in: " 1:1", wantErr: "not a decimal number"},
		{in: "1:1 ", wantErr: "not a decimal number"},
		{in: "１:1", wantErr: "not a decimal number"}, // fullwidth digit
		{in: "GRACEFUL SHUTDOWN", wantErr: "want ASN:VALUE"},
		{in: strings.Repeat("1", 100) + ":1", wantErr: "too long"},
	} {
		got, err := ParseCommunity(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseCommunity(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("ParseCommunity(%q).String() = %q, want %q", tc.in, got.String(), str)
		}
	}
}

func TestCommunityValues(t *testing.T) {
	if v, ok := GracefulShutdown.Uint32(); !ok || v != 0xffff0000 {
		t.Errorf("GracefulShutdown.Uint32() = %#x, %v", v, ok)
	}
	if v, ok := Standard(65010, 7).Uint32(); !ok || v != 65010<<16|7 || Standard(65010, 7).IsLarge() {
		t.Errorf("Standard(65010, 7).Uint32() = %#x, %v", v, ok)
	}
	if _, ok := Large(1, 2, 3).Uint32(); ok {
		t.Error("a large community has a standard wire value")
	}
	if g, l1, l2, ok := Large(1, 2, 3).LargeParts(); !ok || g != 1 || l1 != 2 || l2 != 3 {
		t.Errorf("LargeParts = %d %d %d %v", g, l1, l2, ok)
	}
	if _, _, _, ok := NoExport.LargeParts(); ok {
		t.Error("a standard community has large parts")
	}
	// 65535:0 as a large community is not GRACEFUL_SHUTDOWN.
	if Large(65535, 0, 0) == GracefulShutdown || Large(65535, 0, 0).Name() != "" {
		t.Error("a large community compares equal to a standard one")
	}
	for name, c := range wellKnown {
		if c.Name() != name {
			t.Errorf("%v.Name() = %q, want %q", c, c.Name(), name)
		}
	}
	if Standard(65010, 7).Name() != "" {
		t.Error("65010:7 has a well-known name")
	}
}

// TestAttributesJSON: the JSON of Attributes (policy decisions, audit log,
// /api/v1/policy) keeps communities as strings, as before they were typed.
func TestAttributesJSON(t *testing.T) {
	med := uint32(10)
	a := Attributes{MED: &med, Prepend: 1, Communities: []Community{GracefulShutdown, Large(65010, 1, 2)}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"med":10,"prepend":1,"communities":["65535:0","65010:1:2"]}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Attributes
	if err := json.Unmarshal(b, &back); err != nil || *back.MED != 10 || back.Prepend != 1 || len(back.Communities) != 2 ||
		back.Communities[0] != GracefulShutdown || back.Communities[1] != Large(65010, 1, 2) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"communities":["065535:0"]}`), &back); err == nil || !strings.Contains(err.Error(), "leading zero") {
		t.Errorf("bad community in JSON: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	med := uint32(1)
	full := Capabilities{MED: true, Prepend: true, Communities: true, LargeCommunities: true, GracefulShutdown: true}
	none := Capabilities{}
	for _, tc := range []struct {
		name    string
		c       Capabilities
		a       Attributes
		missing string
	}{
		{"plain on none", none, Attributes{}, ""},
		{"all on full", full, Attributes{MED: &med, Prepend: 2, Communities: []Community{NoExport, Large(1, 2, 3)}}, ""},
		{"med", none, Attributes{MED: &med}, "MED"},
		{"prepend", Capabilities{MED: true}, Attributes{MED: &med, Prepend: 1}, "AS-path prepend"},
		{"communities", none, Attributes{Communities: []Community{GracefulShutdown}}, "communities"},
		{"large only", Capabilities{Communities: true}, Attributes{Communities: []Community{GracefulShutdown, Large(1, 2, 3)}}, "large communities"},
		{"all missing", none, Attributes{MED: &med, Prepend: 1, Communities: []Community{NoExport, Large(1, 2, 3)}}, "MED, AS-path prepend, communities, large communities"},
	} {
		err := tc.c.Check(tc.a)
		if got := strings.Join(tc.c.Missing(tc.a), ", "); got != tc.missing {
			t.Errorf("%s: Missing = %q, want %q", tc.name, got, tc.missing)
		}
		if (err != nil) != (tc.missing != "") || (err != nil && !errors.Is(err, ErrUnsupported)) {
			t.Errorf("%s: Check = %v", tc.name, err)
		}
	}
}

// FuzzParseCommunity: whatever ParseCommunity accepts reads back the same
// from String, a numeric input is its own String (one spelling per
// community), and the text form survives MarshalText/UnmarshalText.
func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65535:0", "065535:0", "65010:1:2", "NO_EXPORT", "no-export", "1:65536", "", ":", "0:0:0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCommunity(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		back, err := ParseCommunity(c.String())
		if err != nil || back != c {
			t.Fatalf("ParseCommunity(%q) = %v; its String %q reads back as %v, %v", s, c, c.String(), back, err)
		}
		if strings.Contains(s, ":") && c.String() != s {
			t.Fatalf("ParseCommunity(%q).String() = %q: two spellings of one community", s, c.String())
		}
		txt, _ := c.MarshalText()
		var u Community
		if err := u.UnmarshalText(txt); err != nil || u != c {
			t.Fatalf("text round trip of %v: %v, %v", c, u, err)
		}
	})
}
