package visibility

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const cfgYAML = `
anycast_prefixes:
  - prefix: 192.0.2.0/24
    origin_as: [65100]
pops:
  - name: fra
    continent: EU
    communities: ["65100:1"]
  - name: sin
    continent: AS
    next_hops: [198.51.100.20]
  - name: iad
    continent: NA
    origin_as: [65103]
min_vantage_points: 2
`

func route(router, peer, table, prefix, nh string, path ...uint32) Route {
	return Route{Router: router, PeerAddress: peer, PeerAS: path[0], Table: table,
		Prefix: netip.MustParsePrefix(prefix), ASPath: path, NextHop: nh, Origin: "igp"}
}

func codes(r Report) []string {
	var cs []string
	for _, f := range r.Findings {
		cs = append(cs, f.Code+" "+f.Subject)
	}
	return cs
}

func TestAnalyze(t *testing.T) {
	cfg, err := ParseConfig([]byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	fra := route("203.0.113.1", "198.51.100.10", "adj-rib-in-pre", "192.0.2.0/24", "198.51.100.10", 64500, 65100)
	fra.Communities = []string{"65100:1"}
	sin := route("203.0.113.2", "198.51.100.20", "adj-rib-in-pre", "192.0.2.0/24", "198.51.100.20", 64501, 65100)
	tests := []struct {
		name   string
		routes []Route
		want   []string
		pops   []PoPCount
	}{
		{
			name:   "two PoPs seen, iad missing",
			routes: []Route{fra, sin},
			want:   []string{"bgp.pop_invisible PoP iad for 192.0.2.0/24"},
			pops:   []PoPCount{{"fra", 1}, {"sin", 1}},
		},
		{
			name:   "one vantage point is below two",
			routes: []Route{fra},
			want: []string{"bgp.visibility_low 192.0.2.0/24", "bgp.pop_invisible PoP sin for 192.0.2.0/24",
				"bgp.pop_invisible PoP iad for 192.0.2.0/24"},
			pops: []PoPCount{{"fra", 1}},
		},
		{
			name: "hijack: foreign origin and a more-specific",
			routes: []Route{fra, sin,
				route("203.0.113.2", "198.51.100.20", "adj-rib-in-pre", "192.0.2.0/24", "198.51.100.66", 64501, 64666),
				route("203.0.113.1", "198.51.100.10", "adj-rib-in-post", "192.0.2.128/25", "198.51.100.66", 64500, 64666)},
			want: []string{"bgp.unexpected_origin 192.0.2.0/24 origin AS64666", "bgp.more_specific 192.0.2.128/25",
				"bgp.pop_invisible PoP iad for 192.0.2.0/24"},
			pops: []PoPCount{{"fra", 1}, {"sin", 1}},
		},
		{
			name: "adj-rib-out and other prefixes do not count",
			routes: []Route{fra, sin,
				route("203.0.113.3", "198.51.100.30", "adj-rib-out-pre", "192.0.2.0/24", "198.51.100.30", 65103),
				route("203.0.113.3", "198.51.100.30", "adj-rib-in-pre", "192.0.0.0/16", "198.51.100.30", 64502, 64999)},
			want: []string{"bgp.pop_invisible PoP iad for 192.0.2.0/24"},
			pops: []PoPCount{{"fra", 1}, {"sin", 1}},
		},
		{
			name:   "nothing seen",
			routes: nil,
			want: []string{"bgp.visibility_low 192.0.2.0/24", "bgp.pop_invisible PoP fra for 192.0.2.0/24",
				"bgp.pop_invisible PoP sin for 192.0.2.0/24", "bgp.pop_invisible PoP iad for 192.0.2.0/24"},
			pops: []PoPCount{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Analyze(cfg, tc.routes, now)
			if got := codes(rep); !slices.Equal(got, tc.want) {
				t.Fatalf("findings\n got %q\nwant %q", got, tc.want)
			}
			if !slices.Equal(rep.Prefixes[0].PoPs, tc.pops) {
				t.Fatalf("pops %v, want %v", rep.Prefixes[0].PoPs, tc.pops)
			}
		})
	}
}

func TestPoPOf(t *testing.T) {
	cfg, _ := ParseConfig([]byte(cfgYAML))
	r := route("r", "p", "adj-rib-in-pre", "192.0.2.0/24", "198.51.100.20", 64500, 65103)
	// Next hop (sin) wins over origin AS (iad); a community (fra) wins over both.
	if got := cfg.PoPOf(r); got != "sin" {
		t.Fatalf("%q, want sin", got)
	}
	r.Communities = []string{"65100:1"}
	if got := cfg.PoPOf(r); got != "fra" {
		t.Fatalf("%q, want fra", got)
	}
	r = route("r", "p", "adj-rib-in-pre", "192.0.2.0/24", "198.51.100.99", 64500, 65103)
	if got := cfg.PoPOf(r); got != "iad" {
		t.Fatalf("%q, want iad", got)
	}
	// Communities written by name or as large communities match BMP's
	// numeric spelling.
	named, err := ParseConfig([]byte("pops:\n  - name: ams\n    communities: [NO_EXPORT]\n  - name: lhr\n    communities: [\"65100:7:9\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.Communities = []string{"65535:65281"}
	if got := named.PoPOf(r); got != "ams" {
		t.Fatalf("NO_EXPORT: %q, want ams", got)
	}
	r.Communities, r.LargeCommunities = nil, []string{"65100:7:9"}
	if got := named.PoPOf(r); got != "lhr" {
		t.Fatalf("large community: %q, want lhr", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":   "colour: red\n",
		"bad prefix":    "anycast_prefixes:\n  - prefix: 192.0.2.0/33\n",
		"no prefix":     "anycast_prefixes:\n  - origin_as: [1]\n",
		"unknown pop":   "anycast_prefixes:\n  - prefix: 192.0.2.0/24\n    pops: [x]\n",
		"pop twice":     "pops:\n  - name: a\n  - name: a\n",
		"pop no name":   "pops:\n  - continent: EU\n",
		"negative min":  "min_vantage_points: -1\n",
		"bad next hop":  "pops:\n  - name: a\n    next_hops: [nope]\n",
		"leading zero":  "pops:\n  - name: a\n    communities: [\"065100:1\"]\n",
		"not community": "pops:\n  - name: a\n    communities: [\"65100\"]\n",
	} {
		if _, err := ParseConfig([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
