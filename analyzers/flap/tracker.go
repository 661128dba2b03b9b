// Package flap keeps the RFC 2439 figure of merit of every (router, peer,
// prefix) seen in BGP events and says which prefixes upstream routers that
// damp with a given profile suppress, or are about to.
package flap

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
)

// Kind is what happened to a route.
type Kind uint8

// Kinds of route events.
const (
	// Announce is a route advertised; after a withdrawal it is a re-advertisement.
	Announce Kind = iota + 1
	// Withdraw is a route withdrawn.
	Withdraw
	// AttrChange is a reachable route replaced with different attributes.
	AttrChange
)

var kindNames = map[Kind]string{Announce: "announce", Withdraw: "withdraw", AttrChange: "attr_change"}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for v, n := range kindNames {
		if n == string(b) {
			*k = v
			return nil
		}
	}
	return fmt.Errorf("unknown route event kind %q (want announce, withdraw or attr_change)", b)
}

// Event is one route change seen from one vantage point.
type Event struct {
	Time   time.Time    `json:"time"`
	Router string       `json:"router"`
	Peer   string       `json:"peer"`
	Prefix netip.Prefix `json:"prefix"`
	Kind   Kind         `json:"kind"`
}

// Status is the damping state of one (router, peer, prefix) at a moment.
type Status struct {
	Router string       `json:"router"`
	Peer   string       `json:"peer"`
	Prefix netip.Prefix `json:"prefix"`
	// Penalty is the figure of merit decayed to At.
	Penalty float64 `json:"penalty"`
	// Flaps counts the penalised events since the entry was created.
	Flaps      uint32 `json:"flaps"`
	Withdrawn  bool   `json:"withdrawn"`
	Suppressed bool   `json:"suppressed"`
	// ReuseInSeconds is how long until the penalty decays below reuse; 0 unless suppressed.
	ReuseInSeconds float64   `json:"reuse_in_seconds"`
	LastEvent      time.Time `json:"last_event"`
	At             time.Time `json:"at"`
}

// ReuseIn is ReuseInSeconds as a duration.
func (s Status) ReuseIn() time.Duration {
	return time.Duration(s.ReuseInSeconds * float64(time.Second))
}

// key is a (vantage point, prefix) in 24 bytes: the address as two words
// rather than a netip.Prefix, whose zone handle would add a pointer per entry.
type key struct {
	hi, lo uint64
	vp     uint32
	bits   uint8
	v4     bool
}

// state is one entry's figure of merit, decayed lazily: penalty was exact at
// lastNs and is multiplied by 2^(-dt/half-life) when next read.
type state struct {
	penalty float64
	lastNs  int64
	flaps   uint32
	flags   uint8
}

const (
	flagWithdrawn uint8 = 1 << iota
	flagSuppressed
)

type vantage struct{ router, peer string }

// Tracker holds the figure of merit of every (router, peer, prefix) that has
// been penalised, for one profile. It is safe for concurrent use.
type Tracker struct {
	profile dampening.Profile
	ceiling float64

	mu      sync.Mutex
	vpIndex map[vantage]uint32
	vps     []vantage
	entries map[key]state
}

// NewTracker returns an empty tracker for p, which must be valid.
func NewTracker(p dampening.Profile) (*Tracker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{
		profile: p,
		ceiling: p.Ceiling(),
		vpIndex: map[vantage]uint32{},
		entries: map[key]state{},
	}, nil
}

// Profile returns the tracker's profile.
func (t *Tracker) Profile() dampening.Profile { return t.profile }

// Len is the number of entries held.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

func makeKey(vp uint32, p netip.Prefix) key {
	a := p.Addr().As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(a[i])
		lo = lo<<8 | uint64(a[8+i])
	}
	return key{hi: hi, lo: lo, vp: vp, bits: uint8(p.Bits()), v4: p.Addr().Is4()}
}

func (k key) prefix() netip.Prefix {
	var a [16]byte
	for i := 0; i < 8; i++ {
		a[7-i] = byte(k.hi >> (8 * i))
		a[15-i] = byte(k.lo >> (8 * i))
	}
	addr := netip.AddrFrom16(a)
	if k.v4 {
		addr = addr.Unmap()
	}
	return netip.PrefixFrom(addr, int(k.bits))
}

// decay returns the penalty of s at nowNs and whether it is still suppressed:
// p(t) = p0 × 2^(-(t - t0) / half-life); a suppressed route is released once
// p < reuse. Time never runs backwards: an older timestamp decays nothing.
func (t *Tracker) decay(s state, nowNs int64) (float64, bool) {
	p := dampening.Decay(s.penalty, time.Duration(nowNs-s.lastNs), t.profile.HalfLife)
	suppressed := s.flags&flagSuppressed != 0 && p >= t.profile.ReuseThreshold
	return p, suppressed
}

// Observe applies one event and returns the entry's state right after it.
// An announcement of a route never penalised costs nothing and keeps no
// memory, so a full-table dump does not fill the tracker.
func (t *Tracker) Observe(ev Event) (Status, error) {
	if !ev.Prefix.IsValid() {
		return Status{}, fmt.Errorf("flap: router %s peer %s: invalid prefix", ev.Router, ev.Peer)
	}
	var inc float64
	switch ev.Kind {
	case Announce, Withdraw, AttrChange:
	default:
		return Status{}, fmt.Errorf("flap: router %s peer %s prefix %s: unknown event kind %d", ev.Router, ev.Peer, ev.Prefix, ev.Kind)
	}
	pfx := ev.Prefix.Masked()
	nowNs := ev.Time.UnixNano()

	t.mu.Lock()
	defer t.mu.Unlock()
	v := vantage{ev.Router, ev.Peer}
	vp, ok := t.vpIndex[v]
	if !ok {
		vp = uint32(len(t.vps))
		t.vpIndex[v] = vp
		t.vps = append(t.vps, v)
	}
	k := makeKey(vp, pfx)
	s, known := t.entries[k]
	switch ev.Kind {
	case Announce:
		if !known {
			return Status{Router: v.router, Peer: v.peer, Prefix: pfx, LastEvent: ev.Time, At: ev.Time}, nil
		}
		if s.flags&flagWithdrawn != 0 {
			inc = t.profile.ReadvertisementPenalty
		}
		s.flags &^= flagWithdrawn
	case Withdraw:
		if known && s.flags&flagWithdrawn != 0 {
			// A withdrawal of a route already withdrawn changes nothing upstream.
			return t.status(k, s, nowNs), nil
		}
		inc = t.profile.WithdrawalPenalty
		s.flags |= flagWithdrawn
	case AttrChange:
		inc = t.profile.AttributeChangePenalty
		s.flags &^= flagWithdrawn
	}
	p, suppressed := t.decay(s, nowNs)
	if inc > 0 {
		s.flaps++
	}
	p = math.Min(p+inc, t.ceiling)
	if p > t.profile.SuppressThreshold {
		suppressed = true
	}
	s.penalty = p
	if nowNs > s.lastNs {
		s.lastNs = nowNs
	}
	s.flags &^= flagSuppressed
	if suppressed {
		s.flags |= flagSuppressed
	}
	t.entries[k] = s
	return t.status(k, s, nowNs), nil
}

// status renders an entry decayed to nowNs; the caller holds t.mu.
func (t *Tracker) status(k key, s state, nowNs int64) Status {
	p, suppressed := t.decay(s, nowNs)
	v := t.vps[k.vp]
	st := Status{
		Router:     v.router,
		Peer:       v.peer,
		Prefix:     k.prefix(),
		Penalty:    p,
		Flaps:      s.flaps,
		Withdrawn:  s.flags&flagWithdrawn != 0,
		Suppressed: suppressed,
		LastEvent:  time.Unix(0, s.lastNs).UTC(),
		At:         time.Unix(0, nowNs).UTC(),
	}
	if suppressed {
		st.ReuseInSeconds = dampening.DecayTime(p, t.profile.ReuseThreshold, t.profile.HalfLife).Seconds()
	}
	return st
}

// Lookup returns the state of (router, peer, prefix) at now.
func (t *Tracker) Lookup(router, peer string, prefix netip.Prefix, now time.Time) (Status, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	vp, ok := t.vpIndex[vantage{router, peer}]
	if !ok {
		return Status{}, false
	}
	k := makeKey(vp, prefix.Masked())
	s, ok := t.entries[k]
	if !ok {
		return Status{}, false
	}
	return t.status(k, s, now.UnixNano()), true
}

// Snapshot returns every entry decayed to now, highest penalty first.
func (t *Tracker) Snapshot(now time.Time) []Status {
	nowNs := now.UnixNano()
	t.mu.Lock()
	out := make([]Status, 0, len(t.entries))
	for k, s := range t.entries {
		out = append(out, t.status(k, s, nowNs))
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Penalty != out[j].Penalty {
			return out[i].Penalty > out[j].Penalty
		}
		if out[i].Prefix != out[j].Prefix {
			return out[i].Prefix.String() < out[j].Prefix.String()
		}
		if out[i].Router != out[j].Router {
			return out[i].Router < out[j].Router
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// Prune forgets entries that are not suppressed and whose penalty has decayed
// below half the reuse threshold, as routers reset a route's flap history
// then; it returns how many it removed. Call it periodically to bound memory.
func (t *Tracker) Prune(now time.Time) int {
	nowNs := now.UnixNano()
	floor := t.profile.ReuseThreshold / 2
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, s := range t.entries {
		if p, suppressed := t.decay(s, nowNs); !suppressed && p < floor {
			delete(t.entries, k)
			n++
		}
	}
	return n
}
