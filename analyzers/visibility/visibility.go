// Package visibility says, for each anycast prefix, which origins, next hops
// and PoPs every BMP vantage point (router, peer, table) sees, and finds what
// is wrong with it: too few vantage points, a foreign origin AS, a
// more-specific, a PoP nobody sees.
package visibility

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/speakers"
	"go.yaml.in/yaml/v3"
)

// Route is one row of the BMP API's /api/v1/bmp/routes.
type Route struct {
	Router           string       `json:"router"`
	PeerAddress      string       `json:"peer_address"`
	PeerAS           uint32       `json:"peer_as"`
	Table            string       `json:"table"`
	Prefix           netip.Prefix `json:"prefix"`
	PathID           uint32       `json:"path_id"`
	ASPath           []uint32     `json:"as_path"`
	NextHop          string       `json:"next_hop"`
	Origin           string       `json:"origin"`
	MED              *uint32      `json:"med"`
	LocalPref        *uint32      `json:"local_pref"`
	Communities      []string     `json:"communities"`
	LargeCommunities []string     `json:"large_communities"`
}

// OriginAS is the last ASN of the AS_PATH; false for a locally originated route.
func (r Route) OriginAS() (uint32, bool) {
	if len(r.ASPath) == 0 {
		return 0, false
	}
	return r.ASPath[len(r.ASPath)-1], true
}

// Vantage is where a route is seen from.
type Vantage struct {
	Router      string `json:"router"`
	PeerAddress string `json:"peer_address"`
	PeerAS      uint32 `json:"peer_as"`
	Table       string `json:"table"`
}

func (v Vantage) String() string {
	return fmt.Sprintf("%s peer %s (AS%d) %s", v.Router, v.PeerAddress, v.PeerAS, v.Table)
}

// PoP is one point of presence and how to recognise its routes.
type PoP struct {
	Name string `yaml:"name"`
	// Continent (e.g. "EU", "AS", "NA") lets path choice flag a vantage point
	// sent to another continent.
	Continent string `yaml:"continent"`
	// A route whose next hop is one of NextHops comes from this PoP.
	NextHops []netip.Addr `yaml:"next_hops"`
	// A route originated by one of OriginAS comes from this PoP.
	OriginAS []uint32 `yaml:"origin_as"`
	// A route carrying one of Communities ("65000:101") or large communities
	// ("65000:1:101") comes from this PoP: the most reliable tag, since it
	// survives next-hop rewriting and a shared origin AS.
	Communities []string `yaml:"communities"`
}

// AnycastPrefix is a prefix announced from several PoPs.
type AnycastPrefix struct {
	Prefix netip.Prefix `yaml:"prefix"`
	// OriginAS lists the ASNs allowed to originate it; empty means the
	// union of the PoPs' origin_as, and no check when that is empty too.
	OriginAS []uint32 `yaml:"origin_as"`
	// PoPs expected to announce it; empty means every PoP.
	PoPs []string `yaml:"pops"`
}

// Config is the visibility analyzer's part of a configuration file.
type Config struct {
	AnycastPrefixes []AnycastPrefix `yaml:"anycast_prefixes"`
	PoPs            []PoP           `yaml:"pops"`
	// MinVantagePoints below which a prefix's visibility is low (default 1).
	MinVantagePoints int `yaml:"min_vantage_points"`
	// Tables that count as vantage points; empty means the Adj-RIB-In
	// tables and the Loc-RIB (Adj-RIB-Out shows what is sent, not seen).
	Tables []string `yaml:"tables"`
}

// DefaultTables are the tables that show what a router receives or uses.
var DefaultTables = []string{"adj-rib-in-pre", "adj-rib-in-post", "loc-rib"}

// ParseConfig decodes a Config from YAML, rejecting unknown keys.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("visibility config: %w", err)
	}
	return c, c.Validate()
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	names := map[string]bool{}
	for i, p := range c.PoPs {
		if p.Name == "" {
			return fmt.Errorf("visibility: pops[%d]: name is required", i)
		}
		if names[p.Name] {
			return fmt.Errorf("visibility: pop %q listed twice", p.Name)
		}
		names[p.Name] = true
		for _, cs := range p.Communities {
			if _, err := speakers.ParseCommunity(cs); err != nil {
				return fmt.Errorf("visibility: pop %q: %w", p.Name, err)
			}
		}
	}
	for i, a := range c.AnycastPrefixes {
		if !a.Prefix.IsValid() {
			return fmt.Errorf("visibility: anycast_prefixes[%d]: prefix is required", i)
		}
		for _, n := range a.PoPs {
			if !names[n] {
				return fmt.Errorf("visibility: anycast prefix %s: pop %q is not in pops", a.Prefix, n)
			}
		}
	}
	if c.MinVantagePoints < 0 {
		return fmt.Errorf("visibility: min_vantage_points must not be negative")
	}
	return nil
}

// PoPOf names the PoP a route comes from, trying communities first, then the
// next hop, then the origin AS; "" when none matches.
func (c Config) PoPOf(r Route) string {
	for _, p := range c.PoPs {
		for _, cs := range p.Communities {
			// BMP reports communities as numbers: compare in that one
			// spelling, so "NO_EXPORT" or a large community match too.
			c, err := speakers.ParseCommunity(cs)
			if err != nil {
				continue
			}
			want := c.String()
			if slices.Contains(r.Communities, want) || slices.Contains(r.LargeCommunities, want) {
				return p.Name
			}
		}
	}
	if nh, err := netip.ParseAddr(r.NextHop); err == nil {
		for _, p := range c.PoPs {
			if slices.Contains(p.NextHops, nh.Unmap()) {
				return p.Name
			}
		}
	}
	if o, ok := r.OriginAS(); ok {
		for _, p := range c.PoPs {
			if slices.Contains(p.OriginAS, o) {
				return p.Name
			}
		}
	}
	return ""
}

// PoP returns the PoP called name.
func (c Config) PoP(name string) (PoP, bool) {
	for _, p := range c.PoPs {
		if p.Name == name {
			return p, true
		}
	}
	return PoP{}, false
}

func (c Config) countsTable(t string) bool {
	if len(c.Tables) == 0 {
		return slices.Contains(DefaultTables, t)
	}
	return slices.Contains(c.Tables, t)
}

// Sighting is one route for an anycast prefix (or a more-specific) seen from one vantage point.
type Sighting struct {
	Vantage
	Prefix   netip.Prefix `json:"prefix"`
	ASPath   []uint32     `json:"as_path"`
	OriginAS uint32       `json:"origin_as"`
	NextHop  string       `json:"next_hop"`
	PoP      string       `json:"pop"`
}

// PoPCount is how many vantage points see a PoP.
type PoPCount struct {
	PoP           string `json:"pop"`
	VantagePoints int    `json:"vantage_points"`
}

// PrefixView is everything seen of one anycast prefix.
type PrefixView struct {
	Prefix        netip.Prefix `json:"prefix"`
	VantagePoints int          `json:"vantage_points"`
	Sightings     []Sighting   `json:"sightings"`
	PoPs          []PoPCount   `json:"pops"`
	Origins       []uint32     `json:"origins"`
	MoreSpecifics []Sighting   `json:"more_specifics"`
}

// Report is the result of Analyze.
type Report struct {
	Prefixes []PrefixView      `json:"prefixes"`
	Findings []finding.Finding `json:"findings"`
}

// Analyze builds the view of every configured anycast prefix from routes and
// its findings at now.
func Analyze(c Config, routes []Route, now time.Time) Report {
	minVP := c.MinVantagePoints
	if minVP == 0 {
		minVP = 1
	}
	rep := Report{Prefixes: []PrefixView{}, Findings: []finding.Finding{}}
	anycast := map[netip.Prefix]bool{}
	for _, a := range c.AnycastPrefixes {
		anycast[a.Prefix.Masked()] = true
	}
	for _, a := range c.AnycastPrefixes {
		ap := a.Prefix.Masked()
		view := PrefixView{Prefix: ap, Sightings: []Sighting{}, PoPs: []PoPCount{}, Origins: []uint32{}, MoreSpecifics: []Sighting{}}
		vps := map[Vantage]bool{}
		popVPs := map[string]map[Vantage]bool{}
		origins := map[uint32]bool{}
		allowed := allowedOrigins(c, a)
		foreign := map[uint32][]Sighting{}
		for _, r := range routes {
			if !c.countsTable(r.Table) || !r.Prefix.IsValid() {
				continue
			}
			rp := r.Prefix.Masked()
			if rp.Bits() < ap.Bits() || !ap.Contains(rp.Addr()) {
				continue
			}
			s := Sighting{Vantage: Vantage{r.Router, r.PeerAddress, r.PeerAS, r.Table}, Prefix: rp,
				ASPath: r.ASPath, NextHop: r.NextHop, PoP: c.PoPOf(r)}
			o, hasOrigin := r.OriginAS()
			s.OriginAS = o
			if hasOrigin && len(allowed) > 0 && !allowed[o] {
				foreign[o] = append(foreign[o], s)
			}
			if rp != ap {
				if !anycast[rp] {
					view.MoreSpecifics = append(view.MoreSpecifics, s)
				}
				continue
			}
			view.Sightings = append(view.Sightings, s)
			vps[s.Vantage] = true
			if hasOrigin {
				origins[o] = true
			}
			if s.PoP != "" {
				if popVPs[s.PoP] == nil {
					popVPs[s.PoP] = map[Vantage]bool{}
				}
				popVPs[s.PoP][s.Vantage] = true
			}
		}
		view.VantagePoints = len(vps)
		for o := range origins {
			view.Origins = append(view.Origins, o)
		}
		slices.Sort(view.Origins)
		for p, m := range popVPs {
			view.PoPs = append(view.PoPs, PoPCount{PoP: p, VantagePoints: len(m)})
		}
		sort.Slice(view.PoPs, func(i, j int) bool { return view.PoPs[i].PoP < view.PoPs[j].PoP })
		sortSightings(view.Sightings)
		sortSightings(view.MoreSpecifics)
		rep.Prefixes = append(rep.Prefixes, view)
		rep.Findings = append(rep.Findings, prefixFindings(c, a, view, minVP, popVPs, foreign, now)...)
	}
	return rep
}

func allowedOrigins(c Config, a AnycastPrefix) map[uint32]bool {
	allowed := map[uint32]bool{}
	for _, o := range a.OriginAS {
		allowed[o] = true
	}
	if len(allowed) == 0 {
		for _, p := range c.PoPs {
			for _, o := range p.OriginAS {
				allowed[o] = true
			}
		}
	}
	return allowed
}

func sortSightings(ss []Sighting) {
	sort.Slice(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.Prefix != b.Prefix {
			return a.Prefix.String() < b.Prefix.String()
		}
		if a.Router != b.Router {
			return a.Router < b.Router
		}
		if a.PeerAddress != b.PeerAddress {
			return a.PeerAddress < b.PeerAddress
		}
		return a.Table < b.Table
	})
}

func vantageList(ss []Sighting) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		v := s.Vantage.String()
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func prefixFindings(c Config, a AnycastPrefix, view PrefixView, minVP int, popVPs map[string]map[Vantage]bool,
	foreign map[uint32][]Sighting, now time.Time) []finding.Finding {
	var fs []finding.Finding
	ap := view.Prefix
	if view.VantagePoints < minVP {
		fs = append(fs, finding.New("bgp.visibility_low", ap.String(),
			fmt.Sprintf("%d vantage points see %s, fewer than the %d required", view.VantagePoints, ap, minVP),
			map[string]any{"vantage_points": view.VantagePoints, "min_vantage_points": minVP,
				"seen_by": vantageList(view.Sightings)}, now))
	}
	var origins []uint32
	for o := range foreign {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	for _, o := range origins {
		ss := foreign[o]
		var pfx []string
		for _, s := range ss {
			if !slices.Contains(pfx, s.Prefix.String()) {
				pfx = append(pfx, s.Prefix.String())
			}
		}
		fs = append(fs, finding.New("bgp.unexpected_origin", fmt.Sprintf("%s origin AS%d", ap, o),
			fmt.Sprintf("AS%d originates %s, seen by %d vantage points", o, strings.Join(pfx, ", "), len(vantageList(ss))),
			map[string]any{"origin_as": o, "prefixes": pfx, "seen_by": vantageList(ss),
				"as_path": ss[0].ASPath}, now))
	}
	byMore := map[netip.Prefix][]Sighting{}
	var mores []netip.Prefix
	for _, s := range view.MoreSpecifics {
		if _, ok := byMore[s.Prefix]; !ok {
			mores = append(mores, s.Prefix)
		}
		byMore[s.Prefix] = append(byMore[s.Prefix], s)
	}
	for _, m := range mores {
		ss := byMore[m]
		origins := map[uint32]bool{}
		for _, s := range ss {
			origins[s.OriginAS] = true
		}
		fs = append(fs, finding.New("bgp.more_specific", m.String(),
			fmt.Sprintf("%s, inside anycast prefix %s, is seen by %d vantage points (origin AS%d)", m, ap, len(vantageList(ss)), ss[0].OriginAS),
			map[string]any{"anycast_prefix": ap.String(), "more_specific": m.String(), "seen_by": vantageList(ss),
				"as_path": ss[0].ASPath, "next_hop": ss[0].NextHop}, now))
	}
	expected := a.PoPs
	if len(expected) == 0 {
		for _, p := range c.PoPs {
			expected = append(expected, p.Name)
		}
	}
	for _, p := range expected {
		if len(popVPs[p]) == 0 {
			fs = append(fs, finding.New("bgp.pop_invisible", fmt.Sprintf("PoP %s for %s", p, ap),
				fmt.Sprintf("no vantage point sees %s from PoP %s", ap, p),
				map[string]any{"pop": p, "prefix": ap.String(), "vantage_points": view.VantagePoints}, now))
		}
	}
	return fs
}
