// Package pathchoice explains, from BMP routes, which PoP each vantage router
// prefers for an anycast prefix and at which step of the BGP decision process
// the other PoPs lose, and names the remedy (prepend, communities, MED). It
// also follows AS_PATH changes over time and detects prepending.
package pathchoice

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/visibility"
	"github.com/anydiag/anydiag/internal/finding"
	"go.yaml.in/yaml/v3"
)

// Router describes a BMP router that serves as a vantage point.
type Router struct {
	// Address is the router's address as the BMP station lists it.
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
	// ASN is the router's own AS; it tells eBGP from iBGP routes.
	ASN uint32 `yaml:"asn"`
	// Continent of the router's clients, to flag a preferred PoP elsewhere.
	Continent string `yaml:"continent"`
}

// Config is the path-choice analyzer's part of a configuration file.
type Config struct {
	Routers []Router `yaml:"routers"`
	// AlwaysCompareMED compares MED between routes from different neighbor
	// ASes, as routers with "bgp always-compare-med" do.
	AlwaysCompareMED bool `yaml:"always_compare_med"`
}

// ParseConfig decodes a Config from YAML, rejecting unknown keys.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("pathchoice config: %w", err)
	}
	for i, r := range c.Routers {
		if r.Address == "" {
			return Config{}, fmt.Errorf("pathchoice: routers[%d]: address is required", i)
		}
	}
	return c, nil
}

func (c Config) router(addr string) Router {
	for _, r := range c.Routers {
		if r.Address == addr {
			return r
		}
	}
	return Router{Address: addr}
}

// Step is a step of the BGP best-path decision (RFC 4271 §9.1.2.2 and the
// common vendor order).
type Step int

// Decision steps, in the order they are applied.
const (
	StepOnlyPath Step = iota
	StepLocalPref
	StepASPathLength
	StepOrigin
	StepMED
	StepEBGP
	StepIGPCost
	StepRouterID
	StepPeerAddress
)

var stepNames = [...]string{"only path", "local preference", "AS_PATH length", "origin", "MED",
	"eBGP over iBGP", "IGP cost", "router ID", "peer address"}

func (s Step) String() string {
	if s < 0 || int(s) >= len(stepNames) {
		return fmt.Sprintf("step(%d)", int(s))
	}
	return stepNames[s]
}

// MarshalText writes the step's name.
func (s Step) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a step's name.
func (s *Step) UnmarshalText(b []byte) error {
	for i, n := range stepNames {
		if n == string(b) {
			*s = Step(i)
			return nil
		}
	}
	return fmt.Errorf("unknown decision step %q", b)
}

// Candidate is one path a router has for the prefix.
type Candidate struct {
	visibility.Route
	PoP string `json:"pop"`
	// PeerBGPID is the peer's router ID when the station's peer list gives it.
	PeerBGPID string `json:"peer_bgp_id,omitempty"`
	// PathLength is the AS_PATH length the decision uses (without the
	// router's own AS that FRR 8.4 writes in front in its BMP feed).
	PathLength int  `json:"path_length"`
	EBGP       bool `json:"ebgp"`
}

// Alternative is another PoP's best path and why it lost.
type Alternative struct {
	Candidate
	LostAt Step   `json:"lost_at"`
	Detail string `json:"detail"`
}

// Choice is one router's preference for the prefix.
type Choice struct {
	Router    string `json:"router"`
	Name      string `json:"name,omitempty"`
	Continent string `json:"continent,omitempty"`
	// Best is the path the decision process selects.
	Best Candidate `json:"best"`
	// Step decided between Best and the best path of the next PoP (or
	// StepOnlyPath when one PoP only is seen).
	Step         Step          `json:"step"`
	Reason       string        `json:"reason"`
	Remedy       string        `json:"remedy"`
	Alternatives []Alternative `json:"alternatives"`
}

// Explanation is the answer to "bgp why PREFIX".
type Explanation struct {
	Prefix   netip.Prefix      `json:"prefix"`
	Choices  []Choice          `json:"choices"`
	Findings []finding.Finding `json:"findings"`
}

// Explain runs the decision process for prefix on every router that has
// paths for it: the Adj-RIB-In post-policy rows when the router sends them
// (local preference is applied there), else the pre-policy ones, else the
// Loc-RIB.
func Explain(prefix netip.Prefix, routes []visibility.Route, peerIDs map[string]string, vis visibility.Config, c Config, now time.Time) Explanation {
	prefix = prefix.Masked()
	byRouter := map[string]map[string][]visibility.Route{}
	for _, r := range routes {
		if !r.Prefix.IsValid() || r.Prefix.Masked() != prefix {
			continue
		}
		if byRouter[r.Router] == nil {
			byRouter[r.Router] = map[string][]visibility.Route{}
		}
		byRouter[r.Router][r.Table] = append(byRouter[r.Router][r.Table], r)
	}
	routers := make([]string, 0, len(byRouter))
	for r := range byRouter {
		routers = append(routers, r)
	}
	sort.Strings(routers)
	ex := Explanation{Prefix: prefix, Choices: []Choice{}, Findings: []finding.Finding{}}
	for _, addr := range routers {
		var rows []visibility.Route
		for _, t := range []string{"adj-rib-in-post", "adj-rib-in-pre", "loc-rib"} {
			if rows = byRouter[addr][t]; len(rows) > 0 {
				break
			}
		}
		if len(rows) == 0 {
			continue
		}
		rt := c.router(addr)
		cands := candidates(rows, rt, peerIDs, vis)
		ch := choose(rt, cands, c)
		ex.Choices = append(ex.Choices, ch)
		if f, ok := misdirected(prefix, ch, vis, now); ok {
			ex.Findings = append(ex.Findings, f)
		}
	}
	ex.Findings = append(ex.Findings, PrependFindings(prefix, routes, vis, now)...)
	return ex
}

// candidates turns rows into candidates with the facts the decision needs.
func candidates(rows []visibility.Route, rt Router, peerIDs map[string]string, vis visibility.Config) []Candidate {
	own := rt.ASN
	if own == 0 {
		own = inferOwnAS(rows)
	}
	out := make([]Candidate, 0, len(rows))
	for _, r := range rows {
		path := r.ASPath
		ebgp := own == 0 || r.PeerAS != own
		// FRR 8.4 writes its own AS in front of the AS_PATH of eBGP routes in
		// its BMP feed; the decision it made did not count it.
		if own != 0 && ebgp && len(path) > 0 && path[0] == own && r.PeerAS != own {
			path = path[1:]
		}
		out = append(out, Candidate{Route: r, PoP: vis.PoPOf(r), PeerBGPID: peerIDs[r.Router+"|"+r.PeerAddress],
			PathLength: len(path), EBGP: ebgp})
	}
	return out
}

// inferOwnAS recognises the FRR quirk without configuration: when every
// path starts with one ASN that is not the AS of every peer it came from,
// that ASN is the router's own.
func inferOwnAS(rows []visibility.Route) uint32 {
	if len(rows) == 0 || len(rows[0].ASPath) == 0 {
		return 0
	}
	first := rows[0].ASPath[0]
	differs := false
	for _, r := range rows {
		if len(r.ASPath) == 0 || r.ASPath[0] != first {
			return 0
		}
		if r.PeerAS != first {
			differs = true
		}
	}
	if !differs {
		return 0
	}
	return first
}

func localPref(c Candidate) uint32 {
	if c.LocalPref != nil {
		return *c.LocalPref
	}
	return 100
}

func med(c Candidate) uint32 {
	if c.MED != nil {
		return *c.MED
	}
	return 0
}

func originRank(o string) int {
	switch strings.ToLower(o) {
	case "igp", "i":
		return 0
	case "egp", "e":
		return 1
	}
	return 2
}

func neighborAS(c Candidate) uint32 {
	if c.EBGP {
		return c.PeerAS
	}
	if len(c.ASPath) > 0 {
		return c.ASPath[0]
	}
	return 0
}

// compare returns <0 when a is preferred, >0 when b is, and the step that decided.
func compare(a, b Candidate, c Config) (int, Step, string) {
	if la, lb := localPref(a), localPref(b); la != lb {
		return cmpDesc(la, lb), StepLocalPref, fmt.Sprintf("local preference %d vs %d", la, lb)
	}
	if a.PathLength != b.PathLength {
		return a.PathLength - b.PathLength, StepASPathLength, fmt.Sprintf("AS_PATH length %d vs %d", a.PathLength, b.PathLength)
	}
	if oa, ob := originRank(a.Origin), originRank(b.Origin); oa != ob {
		return oa - ob, StepOrigin, fmt.Sprintf("origin %s vs %s", a.Origin, b.Origin)
	}
	if ma, mb := med(a), med(b); ma != mb && (c.AlwaysCompareMED || neighborAS(a) == neighborAS(b)) {
		return cmpAsc(ma, mb), StepMED, fmt.Sprintf("MED %d vs %d", ma, mb)
	}
	if a.EBGP != b.EBGP {
		if a.EBGP {
			return -1, StepEBGP, "eBGP vs iBGP"
		}
		return 1, StepEBGP, "iBGP vs eBGP"
	}
	// The IGP cost to the next hop is not in BMP data: it is a tie here.
	if ia, ib := addrOf(a.PeerBGPID), addrOf(b.PeerBGPID); ia.IsValid() && ib.IsValid() && ia != ib {
		return ia.Compare(ib), StepRouterID, fmt.Sprintf("router ID %s vs %s", ia, ib)
	}
	pa, pb := addrOf(a.PeerAddress), addrOf(b.PeerAddress)
	return pa.Compare(pb), StepPeerAddress, fmt.Sprintf("peer address %s vs %s", a.PeerAddress, b.PeerAddress)
}

func addrOf(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}

func cmpDesc(a, b uint32) int {
	if a > b {
		return -1
	}
	return 1
}

func cmpAsc(a, b uint32) int {
	if a < b {
		return -1
	}
	return 1
}

func popLabel(c Candidate) string {
	if c.PoP != "" {
		return c.PoP
	}
	if o, ok := c.OriginAS(); ok {
		return fmt.Sprintf("AS%d via %s", o, c.NextHop)
	}
	return "via " + c.NextHop
}

func choose(rt Router, cands []Candidate, c Config) Choice {
	sort.SliceStable(cands, func(i, j int) bool {
		d, _, _ := compare(cands[i], cands[j], c)
		return d < 0
	})
	best := cands[0]
	ch := Choice{Router: rt.Address, Name: rt.Name, Continent: rt.Continent, Best: best, Step: StepOnlyPath,
		Alternatives: []Alternative{}}
	first := true
	seen := map[string]bool{popLabel(best): true}
	for _, o := range cands[1:] {
		_, step, detail := compare(best, o, c)
		ch.Alternatives = append(ch.Alternatives, Alternative{Candidate: o, LostAt: step, Detail: detail})
		label := popLabel(o)
		if first && !seen[label] {
			first = false
			ch.Step = step
			ch.Reason = fmt.Sprintf("prefers %s over %s by %s (%s)", popLabel(best), label, step, detail)
			ch.Remedy = remedy(step, popLabel(best), label, best, o)
		}
		seen[label] = true
	}
	if ch.Step == StepOnlyPath {
		ch.Reason = fmt.Sprintf("sees only %s", popLabel(best))
		ch.Remedy = "Only one PoP's path reaches this router: check that the other PoPs announce the prefix to this upstream (anydiag bgp visibility)."
	}
	return ch
}

// remedy names what moves the router from PoP best to PoP other.
func remedy(s Step, best, other string, b, o Candidate) string {
	switch s {
	case StepLocalPref:
		return fmt.Sprintf("The upstream's policy gives %s a higher local preference (%d vs %d); local preference is compared before AS_PATH, so prepending will not help: use the upstream's action communities to lower local preference on %s's announcement, or ask the upstream to change its policy.",
			best, localPref(b), localPref(o), best)
	case StepASPathLength:
		return fmt.Sprintf("%s's path is shorter (%d vs %d ASNs): prepend your AS on %s's announcement to this upstream, or remove prepends from %s's, to move this router to %s; an upstream community that prepends does the same.",
			best, b.PathLength, o.PathLength, best, other, other)
	case StepOrigin:
		return fmt.Sprintf("The origin codes differ (%s vs %s): announce the prefix with the same origin from every PoP (a network statement rather than redistribution).", b.Origin, o.Origin)
	case StepMED:
		return fmt.Sprintf("Both paths come from the same neighbor AS and %s has the lower MED (%d vs %d): send a higher MED from %s or a lower one from %s.",
			best, med(b), med(o), best, other)
	case StepEBGP:
		return fmt.Sprintf("The router prefers its eBGP path through %s over the iBGP one through %s: only the upstream's local preference (set with its communities) changes this.", best, other)
	}
	return fmt.Sprintf("The paths are equal up to the tie-breakers (IGP cost is not visible in BMP, then router ID and peer address): make %s's path strictly better, e.g. prepend once on %s.", other, best)
}

// misdirected flags a router whose clients are on one continent and whose
// preferred PoP is on another while a PoP on its own continent exists.
func misdirected(prefix netip.Prefix, ch Choice, vis visibility.Config, now time.Time) (finding.Finding, bool) {
	if ch.Continent == "" || ch.Best.PoP == "" {
		return finding.Finding{}, false
	}
	bp, ok := vis.PoP(ch.Best.PoP)
	if !ok || bp.Continent == "" || bp.Continent == ch.Continent {
		return finding.Finding{}, false
	}
	var local []string
	for _, p := range vis.PoPs {
		if p.Continent == ch.Continent {
			local = append(local, p.Name)
		}
	}
	if len(local) == 0 {
		return finding.Finding{}, false
	}
	ev := map[string]any{"router": ch.Router, "router_continent": ch.Continent, "preferred_pop": bp.Name,
		"pop_continent": bp.Continent, "decided_by": ch.Step.String(), "as_path": ch.Best.ASPath, "local_pops": local}
	advice := ch.Remedy
	var localSeen []string
	for _, a := range ch.Alternatives {
		if slices.Contains(local, a.PoP) && !slices.Contains(localSeen, a.PoP) {
			localSeen = append(localSeen, a.PoP)
		}
	}
	summary := fmt.Sprintf("%s (%s) sends %s traffic to PoP %s in %s: %s", routerLabel(ch), ch.Continent, prefix, bp.Name, bp.Continent, ch.Reason)
	if len(localSeen) == 0 {
		advice = fmt.Sprintf("No path from %s reaches this router: announce the prefix from it to this upstream, or check that session.", strings.Join(local, ", "))
		summary = fmt.Sprintf("%s (%s) sends %s traffic to PoP %s in %s and sees no path from %s", routerLabel(ch), ch.Continent, prefix, bp.Name, bp.Continent, strings.Join(local, ", "))
	}
	ev["local_pops_seen"] = localSeen
	f := finding.New("catchment.misdirected_continent", fmt.Sprintf("%s at %s", prefix, routerLabel(ch)), summary, ev, now)
	f.Advice = advice + " " + f.Advice
	return f, true
}

func routerLabel(ch Choice) string {
	if ch.Name != "" {
		return ch.Name
	}
	return ch.Router
}
