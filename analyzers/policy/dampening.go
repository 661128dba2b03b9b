package policy

import (
	"math"
	"time"
)

// Profile is a vendor's default RFC 2439 dampening parameters.
type Profile struct {
	WithdrawPenalty float64 `json:"withdraw_penalty"`
	// AnnouncePenalty is added when a withdrawn route is advertised again
	// (Cisco 0, Juniper 1000).
	AnnouncePenalty float64 `json:"announce_penalty"`
	// AttributePenalty is added when an announced route's attributes change.
	AttributePenalty float64 `json:"attribute_penalty"`
	Suppress         float64 `json:"suppress"`
	Reuse            float64 `json:"reuse"`
}

// profiles are the vendors' documented defaults; both use a 15 minute half-life.
var profiles = map[string]Profile{
	"cisco":   {WithdrawPenalty: 1000, AnnouncePenalty: 0, AttributePenalty: 500, Suppress: 2000, Reuse: 750},
	"juniper": {WithdrawPenalty: 1000, AnnouncePenalty: 1000, AttributePenalty: 500, Suppress: 3000, Reuse: 750},
}

// DefaultHalfLife is RFC 2439's customary half-life.
const DefaultHalfLife = 15 * time.Minute

// dampening is the model built from DampeningConfig.
type dampening struct {
	Profile
	MaxFraction float64
	HalfLife    time.Duration
}

func (d DampeningConfig) model() dampening {
	m := dampening{Profile: profiles[d.Profile], MaxFraction: d.MaxFraction, HalfLife: d.HalfLife.D()}
	if m.HalfLife == 0 {
		m.HalfLife = DefaultHalfLife
	}
	if d.Suppress > 0 {
		m.Suppress = d.Suppress
	}
	return m
}

func (m dampening) limit() float64 { return m.MaxFraction * m.Suppress }

// Penalty is a decaying RFC 2439 figure of merit.
type Penalty struct {
	Value float64   `json:"value"`
	At    time.Time `json:"at"`
}

// decayed returns the penalty's value at now.
func (p Penalty) decayed(now time.Time, halfLife time.Duration) float64 {
	if p.Value == 0 || !now.After(p.At) {
		return p.Value
	}
	return p.Value * math.Exp2(-float64(now.Sub(p.At))/float64(halfLife))
}

// add decays the penalty to now and adds v.
func (p Penalty) add(now time.Time, halfLife time.Duration, v float64) Penalty {
	return Penalty{Value: p.decayed(now, halfLife) + v, At: now}
}

// announceWait is how long until a re-announce keeps the penalty within the
// limit: zero when allowed now. The re-announce is the gated event, not the
// withdrawal: a withdrawn route cannot be suppressed, and refusing to withdraw
// a broken node would trade a dampening risk for an outage.
func (m dampening) announceWait(p Penalty, now time.Time) time.Duration {
	cur := p.decayed(now, m.HalfLife)
	room := m.limit() - m.AnnouncePenalty
	if cur <= room {
		return 0
	}
	if room <= 0 {
		return time.Duration(math.MaxInt64)
	}
	// cur × 2^(-t/h) = room  ⇒  t = h × log2(cur/room); rounded up so that
	// waiting exactly this long is enough.
	t := float64(m.HalfLife) * math.Log2(cur/room)
	return time.Duration(math.Ceil(t))
}
