package policy

import (
	"container/heap"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Alert hold defaults (policy.alert_hold_ttl, policy.max_alert_holds_per_prefix).
const (
	DefaultAlertHoldTTL           = 15 * time.Minute
	DefaultMaxAlertHoldsPerPrefix = 64
)

// Alert is one Alertmanager alert reduced to what the policy needs.
type Alert struct {
	Fingerprint string
	Name        string
	Firing      bool
	Prefix      netip.Prefix
	Action      string
	StartsAt    time.Time
	// EndsAt is when Alertmanager considers the alert resolved unless it is
	// re-notified; the hold expires then (zero or past: after alert_hold_ttl).
	EndsAt time.Time
}

type alertHold struct {
	action  string
	name    string
	since   time.Time
	expires time.Time
}

// holdSet is one prefix's alert holds. It keeps, per action, the number of
// holds and one representative, so that the verdict costs the same with one
// hold or ten thousand; the representative is the hold that expires last,
// which expiry (earliest first) removes last.
type holdSet struct {
	m   map[string]*alertHold
	n   map[string]int
	rep map[string]string
}

func newHoldSet() holdSet {
	return holdSet{m: map[string]*alertHold{}, n: map[string]int{}, rep: map[string]string{}}
}

func (s *holdSet) len() int { return len(s.m) }

func (s *holdSet) put(fp string, h alertHold) {
	if old, ok := s.m[fp]; ok {
		s.remove(fp, old)
	}
	s.m[fp] = &h
	s.n[h.action]++
	if r, ok := s.rep[h.action]; !ok || !h.expires.Before(s.m[r].expires) {
		s.rep[h.action] = fp
	}
}

func (s *holdSet) delete(fp string) bool {
	h, ok := s.m[fp]
	if ok {
		s.remove(fp, h)
	}
	return ok
}

func (s *holdSet) remove(fp string, h *alertHold) {
	delete(s.m, fp)
	s.n[h.action]--
	if s.rep[h.action] != fp {
		return
	}
	// The representative went first (resolved by hand or by Alertmanager):
	// the one rescan this costs happens on that change, not per evaluation.
	delete(s.rep, h.action)
	if s.n[h.action] == 0 {
		return
	}
	var best string
	for f, x := range s.m {
		if x.action == h.action && (best == "" || x.expires.After(s.m[best].expires)) {
			best = f
		}
	}
	s.rep[h.action] = best
}

func (s *holdSet) clear() {
	clear(s.m)
	clear(s.n)
	clear(s.rep)
}

// strongest returns the fingerprint and hold of the strongest action held
// (withdraw beats degrade), or false.
func (s *holdSet) strongest() (string, *alertHold, bool) {
	for _, a := range []string{ActionWithdraw, ActionDegrade} {
		if fp, ok := s.rep[a]; ok {
			return fp, s.m[fp], true
		}
	}
	return "", nil, false
}

// describe lists the holds for Explain, up to a few; beyond that a count per
// action, so that an answer never grows with the number of alerts.
func (s *holdSet) describe() []string {
	const listMax = 16
	if len(s.m) > listMax {
		return []string{fmt.Sprintf("%d alert holds (withdraw %d, degrade %d)", len(s.m), s.n[ActionWithdraw], s.n[ActionDegrade])}
	}
	var out []string
	for fp, h := range s.m {
		out = append(out, fmt.Sprintf("alert %s (%s): %s until %s", h.name, fp, h.action, h.expires.UTC().Format(time.RFC3339)))
	}
	sort.Strings(out)
	return out
}

// expiry is one scheduled hold expiry; entries whose hold was renewed or
// removed since are stale and skipped when they come up.
type expiry struct {
	at     time.Time
	prefix netip.Prefix
	fp     string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// expireHolds drops the holds whose expiry has come and returns the prefixes
// it touched; its cost is the number of expiries due, not of holds.
func (e *Engine) expireHolds(now time.Time) []netip.Prefix {
	var touched []netip.Prefix
	for len(e.expiries) > 0 && !e.expiries[0].at.After(now) {
		x := heap.Pop(&e.expiries).(expiry)
		ps := e.state[x.prefix]
		h, ok := ps.alerts.m[x.fp]
		if !ok || !h.expires.Equal(x.at) {
			continue
		}
		ps.alerts.delete(x.fp)
		e.dirty = true
		e.o.Logger.Info("alert hold expired", "prefix", x.prefix, "fingerprint", x.fp, "alertname", h.name, "expired_at", h.expires.UTC())
		touched = append(touched, x.prefix)
	}
	return touched
}

func (e *Engine) holdAlert(ps *prefixState, p netip.Prefix, fp string, h alertHold) {
	ps.alerts.put(fp, h)
	heap.Push(&e.expiries, expiry{at: h.expires, prefix: p, fp: fp})
}

// holdExpiry is when a firing alert's hold ends: Alertmanager's EndsAt when
// it lies ahead, else now + ttl.
func holdExpiry(a Alert, now time.Time, ttl time.Duration) time.Time {
	if !a.EndsAt.IsZero() && a.EndsAt.After(now) {
		return a.EndsAt
	}
	return now.Add(ttl)
}
