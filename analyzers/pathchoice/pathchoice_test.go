package pathchoice

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/visibility"
)

var (
	now    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	prefix = netip.MustParsePrefix("192.0.2.0/24")
	vis    = visibility.Config{PoPs: []visibility.PoP{
		{Name: "fra", Continent: "EU", NextHops: []netip.Addr{netip.MustParseAddr("198.51.100.10")}},
		{Name: "sin", Continent: "AS", NextHops: []netip.Addr{netip.MustParseAddr("198.51.100.20")}},
	}}
)

func u32(v uint32) *uint32 { return &v }

// rt is a route at router 203.0.113.1 from a PoP's next hop.
func rt(nh string, peerAS uint32, path ...uint32) visibility.Route {
	return visibility.Route{Router: "203.0.113.1", PeerAddress: nh, PeerAS: peerAS, Table: "adj-rib-in-pre",
		Prefix: prefix, ASPath: path, NextHop: nh, Origin: "igp"}
}

func TestExplain(t *testing.T) {
	fra := func(path ...uint32) visibility.Route { return rt("198.51.100.10", path[0], path...) }
	sin := func(path ...uint32) visibility.Route { return rt("198.51.100.20", path[0], path...) }
	tests := []struct {
		name   string
		routes []visibility.Route
		cfg    Config
		best   string
		step   Step
		remedy string
	}{
		{
			name:   "shorter AS_PATH wins",
			routes: []visibility.Route{fra(65101, 65100, 65100), sin(65102, 65100)},
			best:   "sin", step: StepASPathLength, remedy: "prepend your AS on sin",
		},
		{
			name: "local preference beats a shorter path",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100, 65100), sin(65102, 65100)
				a.LocalPref, b.LocalPref = u32(200), u32(100)
				return []visibility.Route{a, b}
			}(),
			best: "fra", step: StepLocalPref, remedy: "prepending will not help",
		},
		{
			name: "origin IGP over incomplete",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100), sin(65101, 65100)
				a.Origin = "incomplete"
				return []visibility.Route{a, b}
			}(),
			best: "sin", step: StepOrigin, remedy: "same origin",
		},
		{
			name: "lower MED from the same neighbor AS",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100), sin(65101, 65100)
				a.MED, b.MED = u32(10), u32(50)
				return []visibility.Route{a, b}
			}(),
			best: "fra", step: StepMED, remedy: "higher MED from fra",
		},
		{
			name: "MED ignored across neighbor ASes",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100), sin(65102, 65100)
				a.MED, b.MED = u32(10), u32(50)
				return []visibility.Route{b, a}
			}(),
			best: "fra", step: StepPeerAddress, remedy: "tie-breakers",
		},
		{
			name: "MED across neighbor ASes with always-compare-med",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100), sin(65102, 65100)
				a.MED, b.MED = u32(50), u32(10)
				return []visibility.Route{a, b}
			}(),
			cfg:  Config{AlwaysCompareMED: true},
			best: "sin", step: StepMED,
		},
		{
			name: "eBGP over iBGP",
			routes: func() []visibility.Route {
				a, b := fra(65101, 65100), rt("198.51.100.20", 64500, 65102, 65100)
				return []visibility.Route{b, a}
			}(),
			cfg:  Config{Routers: []Router{{Address: "203.0.113.1", ASN: 64500}}},
			best: "fra", step: StepEBGP,
		},
		{
			name:   "FRR own AS in front is not counted",
			routes: []visibility.Route{fra(64500, 65101, 65100), sin(64500, 65102, 65103, 65100)},
			best:   "fra", step: StepASPathLength,
		},
		{
			name:   "one PoP only",
			routes: []visibility.Route{sin(65102, 65100)},
			best:   "sin", step: StepOnlyPath, remedy: "Only one PoP",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The FRR case: peers' AS is not the first ASN.
			if strings.HasPrefix(tc.name, "FRR") {
				tc.routes[0].PeerAS, tc.routes[1].PeerAS = 65101, 65102
			}
			ex := Explain(prefix, tc.routes, nil, vis, tc.cfg, now)
			if len(ex.Choices) != 1 {
				t.Fatalf("%d choices", len(ex.Choices))
			}
			ch := ex.Choices[0]
			if ch.Best.PoP != tc.best || ch.Step != tc.step {
				t.Fatalf("prefers %s by %s (%s), want %s by %s", ch.Best.PoP, ch.Step, ch.Reason, tc.best, tc.step)
			}
			if !strings.Contains(ch.Remedy, tc.remedy) {
				t.Fatalf("remedy %q lacks %q", ch.Remedy, tc.remedy)
			}
		})
	}
}

func TestMisdirectedContinent(t *testing.T) {
	cfg := Config{Routers: []Router{{Address: "203.0.113.1", Name: "paris-ix", Continent: "EU"}}}
	routes := []visibility.Route{
		rt("198.51.100.10", 65101, 65101, 65100, 65100, 65100),
		rt("198.51.100.20", 65102, 65102, 65100),
	}
	ex := Explain(prefix, routes, nil, vis, cfg, now)
	var codes []string
	for _, f := range ex.Findings {
		codes = append(codes, f.Code)
	}
	want := []string{"catchment.misdirected_continent", "bgp.prepend_detected"}
	if !slices.Equal(codes, want) {
		t.Fatalf("findings %v, want %v", codes, want)
	}
	f := ex.Findings[0]
	if f.Evidence["preferred_pop"] != "sin" || !strings.Contains(f.Advice, "prepend your AS on sin") ||
		!strings.Contains(f.Summary, "AS_PATH length") {
		t.Fatalf("%+v", f)
	}
	if p := ex.Findings[1]; p.Evidence["asn"] != uint32(65100) || p.Evidence["count"] != 3 || p.Evidence["pop"] != "fra" {
		t.Fatalf("%+v", p)
	}
}

func TestPrepends(t *testing.T) {
	tests := []struct {
		path []uint32
		want []Prepend
	}{
		{nil, nil},
		{[]uint32{1, 2, 3}, nil},
		{[]uint32{1, 1, 2, 3, 3, 3}, []Prepend{{1, 2}, {3, 3}}},
		{[]uint32{7, 7}, []Prepend{{7, 2}}},
	}
	for _, tc := range tests {
		if got := Prepends(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory([]netip.Prefix{prefix}, 10)
	a := rt("198.51.100.10", 65101, 65101, 65100)
	if ch := h.Observe(now, []visibility.Route{a}); len(ch) != 0 {
		t.Fatalf("first snapshot is no change: %v", ch)
	}
	b := a
	b.ASPath = []uint32{65101, 65104, 65100}
	ch := h.Observe(now.Add(time.Minute), []visibility.Route{b})
	if len(ch) != 1 || !slices.Equal(ch[0].Old, a.ASPath) || !slices.Equal(ch[0].New, b.ASPath) {
		t.Fatalf("%+v", ch)
	}
	if ch := h.Observe(now.Add(2*time.Minute), []visibility.Route{b}); len(ch) != 0 {
		t.Fatalf("same path is no change: %v", ch)
	}
	ch = h.Observe(now.Add(3*time.Minute), nil)
	if len(ch) != 1 || len(ch[0].New) != 0 {
		t.Fatalf("withdrawal: %+v", ch)
	}
	fs := ChangeFindings(h.Changes(), vis)
	if len(fs) != 2 || fs[0].Code != "bgp.path_changed" || !strings.Contains(fs[1].Summary, "withdrawn") {
		t.Fatalf("%+v", fs)
	}
}
