package flap

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/internal/finding"
)

// Config is the flap analyzer's part of a configuration file.
type Config struct {
	// Profiles names the built-in profiles to track ("cisco", "juniper");
	// empty means both.
	Profiles []string `yaml:"profiles"`
	// CustomProfiles are tracked too, each under its own name.
	CustomProfiles []dampening.Profile `yaml:"custom_profiles"`
	// OwnPrefixes are the node's anycast prefixes, reported first and at full severity.
	OwnPrefixes []netip.Prefix `yaml:"own_prefixes"`
}

// NewSetFromConfig builds the set of trackers c asks for.
func NewSetFromConfig(c Config) (*Set, error) {
	names := c.Profiles
	if len(names) == 0 && len(c.CustomProfiles) == 0 {
		names = []string{dampening.Cisco.Name, dampening.Juniper.Name}
	}
	var ps []dampening.Profile
	for _, n := range names {
		p, ok := dampening.Builtin(n)
		if !ok {
			return nil, fmt.Errorf("flap: unknown built-in profile %q (want cisco or juniper; put others under custom_profiles)", n)
		}
		ps = append(ps, p)
	}
	ps = append(ps, c.CustomProfiles...)
	return NewSet(ps...)
}

// Set feeds the same events to one tracker per profile, because an upstream
// damps with its own parameters and the operator wants to know about each.
type Set struct {
	trackers []*Tracker
}

// NewSet returns a set with a tracker per profile; names must be unique.
func NewSet(profiles ...dampening.Profile) (*Set, error) {
	if len(profiles) == 0 {
		return nil, fmt.Errorf("flap: a set needs at least one profile")
	}
	s := &Set{}
	seen := map[string]bool{}
	for _, p := range profiles {
		if seen[p.Name] {
			return nil, fmt.Errorf("flap: profile %q listed twice", p.Name)
		}
		seen[p.Name] = true
		t, err := NewTracker(p)
		if err != nil {
			return nil, err
		}
		s.trackers = append(s.trackers, t)
	}
	return s, nil
}

// Observe applies ev to every tracker.
func (s *Set) Observe(ev Event) error {
	for _, t := range s.trackers {
		if _, err := t.Observe(ev); err != nil {
			return err
		}
	}
	return nil
}

// Tracker returns the tracker of the named profile; "" names the first.
func (s *Set) Tracker(name string) (*Tracker, bool) {
	if name == "" {
		return s.trackers[0], true
	}
	for _, t := range s.trackers {
		if t.profile.Name == name {
			return t, true
		}
	}
	return nil, false
}

// Trackers returns every tracker, in the order the profiles were given.
func (s *Set) Trackers() []*Tracker { return append([]*Tracker(nil), s.trackers...) }

// Prune prunes every tracker and returns how many entries were removed.
func (s *Set) Prune(now time.Time) int {
	n := 0
	for _, t := range s.trackers {
		n += t.Prune(now)
	}
	return n
}

// Report is the JSON document of GET /api/v1/flaps.
type Report struct {
	Profile  dampening.Profile `json:"profile"`
	At       time.Time         `json:"at"`
	Entries  []Status          `json:"entries"`
	Findings []finding.Finding `json:"findings"`
}

// Report returns the state of the named profile's tracker at now, with its
// findings; prefix, when valid, keeps only that prefix's entries.
func (s *Set) Report(profile string, prefix netip.Prefix, now time.Time, own []netip.Prefix) (Report, error) {
	t, ok := s.Tracker(profile)
	if !ok {
		return Report{}, fmt.Errorf("flap: profile %q is not tracked here (tracked: %v); track it with collectors.bmp.flap.custom_profiles in the agent's configuration or `anydiag bmp serve --flap-profile FILE`", profile, s.names())
	}
	r := Report{Profile: t.profile, At: now.UTC(), Entries: []Status{}, Findings: []finding.Finding{}}
	for _, st := range t.Snapshot(now) {
		if !prefix.IsValid() || st.Prefix == prefix.Masked() {
			r.Entries = append(r.Entries, st)
		}
	}
	for _, f := range t.Findings(now, own) {
		if !prefix.IsValid() || f.Evidence["prefix"] == prefix.Masked().String() {
			r.Findings = append(r.Findings, f)
		}
	}
	return r, nil
}

func (s *Set) names() []string {
	var ns []string
	for _, t := range s.trackers {
		ns = append(ns, t.profile.Name)
	}
	return ns
}

// Handler serves GET /api/v1/flaps?profile=NAME&prefix=P (both optional) as a
// Report. Mount it on the BMP station's or the agent's HTTP mux.
type Handler struct {
	Set *Set
	// Now is the clock the penalties are decayed to.
	Now func() time.Time
	// Own are the node's anycast prefixes.
	Own []netip.Prefix
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	var prefix netip.Prefix
	if v := q.Get("prefix"); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("prefix: %v", err), http.StatusBadRequest)
			return
		}
		prefix = p
	}
	rep, err := h.Set.Report(q.Get("profile"), prefix, h.Now(), h.Own)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}
