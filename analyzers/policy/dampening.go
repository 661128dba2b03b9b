package policy

import (
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
)

// DefaultHalfLife is RFC 2439's customary half-life.
const DefaultHalfLife = 15 * time.Minute

// selfDampening is the upstream's RFC 2439 profile the node keeps its own
// penalty within, built from DampeningConfig. The zero value is disabled.
type selfDampening struct {
	dampening.Profile
	MaxFraction float64
}

func (d DampeningConfig) model() selfDampening {
	prof, _ := dampening.Builtin(d.Profile)
	m := selfDampening{Profile: prof, MaxFraction: d.MaxFraction}
	if h := d.HalfLife.D(); h != 0 {
		m.HalfLife = h
	}
	if s := d.suppressThreshold(); s > 0 {
		m.SuppressThreshold = s
	}
	return m
}

func (m selfDampening) enabled() bool { return m.SuppressThreshold > 0 }

func (m selfDampening) limit() float64 { return m.MaxFraction * m.SuppressThreshold }

// Penalty is a decaying RFC 2439 figure of merit.
type Penalty struct {
	Value float64   `json:"value"`
	At    time.Time `json:"at"`
}

// decayed returns the penalty's value at now.
func (p Penalty) decayed(now time.Time, halfLife time.Duration) float64 {
	return dampening.Decay(p.Value, now.Sub(p.At), halfLife)
}

// add decays the penalty to now and adds inc, capped at the profile's
// ceiling as the upstream caps it; disabled, it only decays.
func (m selfDampening) add(p Penalty, now time.Time, inc float64) Penalty {
	if !m.enabled() {
		return Penalty{Value: p.decayed(now, m.HalfLife), At: now}
	}
	return Penalty{Value: m.Add(p.Value, now.Sub(p.At), inc), At: now}
}

// announceWait is how long until a re-announce keeps the penalty within the
// limit: zero when allowed now. The re-announce is the gated event, not the
// withdrawal: a withdrawn route cannot be suppressed, and refusing to withdraw
// a broken node would trade a dampening risk for an outage.
func (m selfDampening) announceWait(p Penalty, now time.Time) time.Duration {
	return dampening.DecayTime(p.decayed(now, m.HalfLife), m.limit()-m.ReadvertisementPenalty, m.HalfLife)
}
