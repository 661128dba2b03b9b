package pathchoice

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/anydiag/anydiag/analyzers/visibility"
	"github.com/anydiag/anydiag/internal/finding"
)

// Prepend is an ASN repeated in a row in an AS_PATH.
type Prepend struct {
	ASN uint32 `json:"asn"`
	// Count is how many times the ASN appears in the run (2 = prepended once).
	Count int `json:"count"`
}

// Prepends returns the runs of a repeated ASN in path.
func Prepends(path []uint32) []Prepend {
	var out []Prepend
	for i := 0; i < len(path); {
		j := i + 1
		for j < len(path) && path[j] == path[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, Prepend{ASN: path[i], Count: j - i})
		}
		i = j
	}
	return out
}

// PrependFindings reports, for prefix, each (ASN, PoP) that is prepended in
// the paths some vantage point sees, with the vantage points that see it.
func PrependFindings(prefix netip.Prefix, routes []visibility.Route, vis visibility.Config, now time.Time) []finding.Finding {
	type key struct {
		asn   uint32
		count int
		pop   string
	}
	seen := map[key][]string{}
	var keys []key
	for _, r := range routes {
		if !r.Prefix.IsValid() || r.Prefix.Masked() != prefix.Masked() {
			continue
		}
		for _, p := range Prepends(r.ASPath) {
			k := key{p.ASN, p.Count, vis.PoPOf(r)}
			if _, ok := seen[k]; !ok {
				keys = append(keys, k)
			}
			v := fmt.Sprintf("%s peer %s %s", r.Router, r.PeerAddress, r.Table)
			if !slices.Contains(seen[k], v) {
				seen[k] = append(seen[k], v)
			}
		}
	}
	var fs []finding.Finding
	for _, k := range keys {
		subject := fmt.Sprintf("%s AS%d×%d", prefix, k.asn, k.count)
		where := ""
		if k.pop != "" {
			subject += " from " + k.pop
			where = " on the path from PoP " + k.pop
		}
		fs = append(fs, finding.New("bgp.prepend_detected", subject,
			fmt.Sprintf("AS%d appears %d times in a row%s, seen by %d vantage points", k.asn, k.count, where, len(seen[k])),
			map[string]any{"asn": k.asn, "count": k.count, "pop": k.pop, "seen_by": seen[k]}, now))
	}
	return fs
}

// Change is an AS_PATH change seen by one vantage point.
type Change struct {
	visibility.Vantage
	Prefix netip.Prefix `json:"prefix"`
	At     time.Time    `json:"at"`
	Old    []uint32     `json:"old"`
	New    []uint32     `json:"new"`
}

type histKey struct {
	vantage visibility.Vantage
	prefix  netip.Prefix
}

// History follows the AS_PATH each vantage point has for the prefixes it is
// given, across snapshots of the routes. It is safe for concurrent use.
type History struct {
	mu       sync.Mutex
	prefixes []netip.Prefix
	last     map[histKey][]uint32
	changes  []Change
	keep     int
}

// NewHistory follows prefixes (exact match) and keeps the last keep changes.
func NewHistory(prefixes []netip.Prefix, keep int) *History {
	ps := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		ps[i] = p.Masked()
	}
	return &History{prefixes: ps, last: map[histKey][]uint32{}, keep: keep}
}

// Observe compares a snapshot of routes taken at now with the previous one
// and returns the paths that changed; a path appearing or disappearing is a
// change too (from or to an empty path).
func (h *History) Observe(now time.Time, routes []visibility.Route) []Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	current := map[histKey][]uint32{}
	for _, r := range routes {
		if !r.Prefix.IsValid() || !slices.Contains(h.prefixes, r.Prefix.Masked()) {
			continue
		}
		k := histKey{visibility.Vantage{Router: r.Router, PeerAddress: r.PeerAddress, PeerAS: r.PeerAS, Table: r.Table}, r.Prefix.Masked()}
		current[k] = r.ASPath
	}
	var out []Change
	for k, p := range current {
		prev, ok := h.last[k]
		if ok && !slices.Equal(prev, p) {
			out = append(out, Change{Vantage: k.vantage, Prefix: k.prefix, At: now, Old: prev, New: p})
		}
		if !ok || !slices.Equal(prev, p) {
			h.last[k] = slices.Clone(p)
		}
	}
	for k, prev := range h.last {
		if _, ok := current[k]; !ok {
			out = append(out, Change{Vantage: k.vantage, Prefix: k.prefix, At: now, Old: prev, New: []uint32{}})
			delete(h.last, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Vantage.String() < out[j].Vantage.String() })
	h.changes = append(h.changes, out...)
	if len(h.changes) > h.keep {
		h.changes = slices.Clone(h.changes[len(h.changes)-h.keep:])
	}
	return out
}

// Changes returns the changes kept, oldest first.
func (h *History) Changes() []Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.changes)
}

// ChangeFindings turns changes into bgp.path_changed findings.
func ChangeFindings(changes []Change, vis visibility.Config) []finding.Finding {
	var fs []finding.Finding
	for _, c := range changes {
		summary := fmt.Sprintf("AS_PATH %v → %v (length %d → %d)", c.Old, c.New, len(c.Old), len(c.New))
		if len(c.New) == 0 {
			summary = fmt.Sprintf("path %v withdrawn", c.Old)
		}
		ev := map[string]any{"router": c.Router, "peer_address": c.PeerAddress, "table": c.Table,
			"old_as_path": c.Old, "new_as_path": c.New}
		r := visibility.Route{ASPath: c.New}
		if p := vis.PoPOf(r); p != "" {
			ev["new_pop"] = p
		}
		if p := vis.PoPOf(visibility.Route{ASPath: c.Old}); p != "" {
			ev["old_pop"] = p
		}
		fs = append(fs, finding.New("bgp.path_changed", fmt.Sprintf("%s at %s", c.Prefix, c.Vantage), summary, ev, c.At))
	}
	return fs
}
