package agent

import (
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
)

func init() {
	prometheus.Describe("anydiag_finding", prometheus.Gauge,
		"Active findings: 1 per finding, labelled with its code, severity and subject.")
	prometheus.Describe("anydiag_findings", prometheus.Gauge,
		"Number of active findings by severity.")
}

// kind says what a source's findings are to the policy. Its rules judge
// the collectors' and analyzers' findings; it reads the health checks as
// states (policy.Input.Checks), so their findings would count them twice;
// and its own findings are its output, never its input. The store picks the
// policy's input by kind, never by source or code names.
type kind uint8

const (
	kindInput  kind = iota // a task's findings: what the policy's rules judge
	kindHealth             // health.Findings: the policy reads the states instead
	kindPolicy             // the policy's own findings
)

// findingStore keeps each source's latest findings and when each began: a
// finding seen again keeps its original Since.
type findingStore struct {
	now func() time.Time

	mu      sync.RWMutex
	bySrc   map[string][]finding.Finding
	kinds   map[string]kind
	since   map[string]time.Time // finding key → first seen
	metrics *metrics.Set
}

func newFindingStore(now func() time.Time) *findingStore {
	return &findingStore{now: now, bySrc: map[string][]finding.Finding{}, kinds: map[string]kind{}, since: map[string]time.Time{}, metrics: metrics.NewSet()}
}

// set replaces the findings of one source, of kind k, and reports whether
// that changed which findings are active.
func (s *findingStore) set(src string, k kind, fs []finding.Finding) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[src] = k
	before := map[string]bool{}
	for _, f := range s.bySrc[src] {
		before[f.Key()] = true
	}
	changed := false
	kept := make([]finding.Finding, 0, len(fs))
	for _, f := range fs {
		k := src + "\x00" + f.Key()
		if t, ok := s.since[k]; ok {
			f.Since = t
		} else {
			if f.Since.IsZero() {
				f.Since = s.now().UTC()
			}
			s.since[k] = f.Since
		}
		kept = append(kept, f)
		if !before[f.Key()] {
			changed = true
		}
		delete(before, f.Key())
	}
	changed = changed || len(before) > 0
	s.bySrc[src] = kept
	live := map[string]bool{}
	for src, list := range s.bySrc {
		for _, f := range list {
			live[src+"\x00"+f.Key()] = true
		}
	}
	for k := range s.since {
		if !live[k] {
			delete(s.since, k)
		}
	}
	s.rebuildMetrics()
	return changed
}

// policyInput returns the active findings the policy's rules judge: those
// of kindInput sources, worst first.
func (s *findingStore) policyInput() []finding.Finding {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []finding.Finding
	for src, list := range s.bySrc {
		if s.kinds[src] == kindInput {
			out = append(out, list...)
		}
	}
	finding.Sort(out)
	return out
}

// all returns every active finding, worst first.
func (s *findingStore) all() []finding.Finding {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []finding.Finding
	for _, list := range s.bySrc {
		out = append(out, list...)
	}
	finding.Sort(out)
	return out
}

// rebuildMetrics replaces the findings set: label sets come and go with
// findings, so a fresh set is cheaper and exact. Called with mu held.
func (s *findingStore) rebuildMetrics() {
	set := metrics.NewSet()
	counts := map[finding.Severity]int{}
	seen := map[string]bool{}
	for _, list := range s.bySrc {
		for _, f := range list {
			counts[f.Severity]++
			name := prometheus.Name("anydiag_finding", "code", f.Code, "severity", f.Severity.String(), "subject", f.Subject)
			if seen[name] {
				continue
			}
			seen[name] = true
			set.NewGauge(name, nil).Set(1)
		}
	}
	for _, sev := range []finding.Severity{finding.Info, finding.Warning, finding.Critical} {
		set.NewGauge(prometheus.Name("anydiag_findings", "severity", sev.String()), nil).Set(float64(counts[sev]))
	}
	s.metrics = set
}

func (s *findingStore) metricSet() *metrics.Set {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.metrics
}
