// Package dampening is the one RFC 2439 route flap damping model of anydiag:
// a Profile of penalties and thresholds, the vendors' defaults, and the decay
// arithmetic. analyzers/flap applies it to what upstream routers see;
// analyzers/policy applies it to the node's own announcements so it never
// gets itself suppressed.
package dampening

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Profile is one set of RFC 2439 damping parameters: the penalties each kind
// of event adds to the figure of merit and the thresholds an upstream router
// applies to it. Its YAML and JSON field names are the ones users write in
// collectors.bmp.flap.custom_profiles and read from /api/v1/flaps.
type Profile struct {
	// Name identifies the profile in output and in the API's ?profile= query.
	Name string `yaml:"name"`
	// WithdrawalPenalty is added when the route is withdrawn.
	WithdrawalPenalty float64 `yaml:"withdrawal_penalty"`
	// ReadvertisementPenalty is added when a withdrawn route comes back.
	ReadvertisementPenalty float64 `yaml:"readvertisement_penalty"`
	// AttributeChangePenalty is added when a reachable route changes attributes.
	AttributeChangePenalty float64 `yaml:"attribute_change_penalty"`
	// SuppressThreshold: a route whose penalty rises above it is suppressed.
	SuppressThreshold float64 `yaml:"suppress_threshold"`
	// ReuseThreshold: a suppressed route is used again once its penalty decays below it.
	ReuseThreshold float64 `yaml:"reuse_threshold"`
	// HalfLife is the time the penalty takes to halve.
	HalfLife time.Duration `yaml:"half_life"`
	// MaxSuppress bounds how long a route stays suppressed; it sets the ceiling.
	MaxSuppress time.Duration `yaml:"max_suppress"`
}

// Cisco is the IOS/IOS-XR default of RFC 7196's Table 1 (FRR uses the same).
var Cisco = Profile{
	Name:                   "cisco",
	WithdrawalPenalty:      1000,
	ReadvertisementPenalty: 0,
	AttributeChangePenalty: 500,
	SuppressThreshold:      2000,
	ReuseThreshold:         750,
	HalfLife:               15 * time.Minute,
	MaxSuppress:            60 * time.Minute,
}

// Juniper is the Junos default of RFC 7196's Table 1.
var Juniper = Profile{
	Name:                   "juniper",
	WithdrawalPenalty:      1000,
	ReadvertisementPenalty: 1000,
	AttributeChangePenalty: 500,
	SuppressThreshold:      3000,
	ReuseThreshold:         750,
	HalfLife:               15 * time.Minute,
	MaxSuppress:            60 * time.Minute,
}

// Builtin returns the built-in profile called name ("cisco" or "juniper").
func Builtin(name string) (Profile, bool) {
	switch name {
	case Cisco.Name:
		return Cisco, true
	case Juniper.Name:
		return Juniper, true
	}
	return Profile{}, false
}

// Decay is RFC 2439's exponential decay: penalty × 2^(-elapsed / halfLife).
// Time never runs backwards: a non-positive elapsed decays nothing.
func Decay(penalty float64, elapsed, halfLife time.Duration) float64 {
	if elapsed <= 0 || penalty == 0 {
		return penalty
	}
	return penalty * math.Exp2(-float64(elapsed)/float64(halfLife))
}

// DecayTime is how long penalty takes to decay to target: halfLife ×
// log2(penalty / target), rounded up to the nanosecond so that waiting that
// long is enough; zero when penalty is already at or below target. A target
// that is not positive is never reached: the result is the longest duration.
func DecayTime(penalty, target float64, halfLife time.Duration) time.Duration {
	if penalty <= target {
		return 0
	}
	if target <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(float64(halfLife) * math.Log2(penalty/target)))
}

// Ceiling is the highest penalty the profile keeps: reuse × 2^(max_suppress / half_life),
// so that a route at the ceiling decays to reuse in exactly MaxSuppress.
func (p Profile) Ceiling() float64 {
	return p.ReuseThreshold * math.Exp2(p.MaxSuppress.Seconds()/p.HalfLife.Seconds())
}

// Add decays penalty by elapsed, adds the event's penalty inc and caps the
// sum at the ceiling, as a router applying the profile does on each event.
func (p Profile) Add(penalty float64, elapsed time.Duration, inc float64) float64 {
	return math.Min(Decay(penalty, elapsed, p.HalfLife)+inc, p.Ceiling())
}

// Validate reports parameters that would make damping meaningless or the
// arithmetic undefined.
func (p Profile) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("dampening profile: name is empty")
	case p.HalfLife <= 0:
		return fmt.Errorf("dampening profile %s: half_life must be positive, got %s", p.Name, p.HalfLife)
	case p.MaxSuppress <= 0:
		return fmt.Errorf("dampening profile %s: max_suppress must be positive, got %s", p.Name, p.MaxSuppress)
	case p.WithdrawalPenalty < 0 || p.ReadvertisementPenalty < 0 || p.AttributeChangePenalty < 0:
		return fmt.Errorf("dampening profile %s: penalties must not be negative", p.Name)
	case !(p.ReuseThreshold > 0):
		return fmt.Errorf("dampening profile %s: reuse_threshold must be positive, got %g", p.Name, p.ReuseThreshold)
	case !(p.SuppressThreshold > p.ReuseThreshold):
		return fmt.Errorf("dampening profile %s: suppress_threshold %g must exceed reuse_threshold %g",
			p.Name, p.SuppressThreshold, p.ReuseThreshold)
	case !(p.Ceiling() > p.SuppressThreshold):
		return fmt.Errorf("dampening profile %s: ceiling %g (reuse × 2^(max_suppress/half_life)) does not exceed suppress_threshold %g, so nothing is ever suppressed",
			p.Name, p.Ceiling(), p.SuppressThreshold)
	}
	return nil
}

// ParseProfile decodes one profile from YAML, rejecting unknown keys, and validates it.
func ParseProfile(b []byte) (Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("dampening profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// LoadProfile returns the built-in profile called nameOrFile, or else reads the
// YAML file at that path.
func LoadProfile(nameOrFile string) (Profile, error) {
	if p, ok := Builtin(nameOrFile); ok {
		return p, nil
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		return Profile{}, fmt.Errorf("dampening profile %q is neither cisco, juniper nor a readable file: %w", nameOrFile, err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return Profile{}, fmt.Errorf("%s: %w", nameOrFile, err)
	}
	return p, nil
}

// profileJSON writes durations in seconds, which every JSON reader understands.
type profileJSON struct {
	Name                   string  `json:"name"`
	WithdrawalPenalty      float64 `json:"withdrawal_penalty"`
	ReadvertisementPenalty float64 `json:"readvertisement_penalty"`
	AttributeChangePenalty float64 `json:"attribute_change_penalty"`
	SuppressThreshold      float64 `json:"suppress_threshold"`
	ReuseThreshold         float64 `json:"reuse_threshold"`
	HalfLifeSeconds        float64 `json:"half_life_seconds"`
	MaxSuppressSeconds     float64 `json:"max_suppress_seconds"`
	Ceiling                float64 `json:"ceiling"`
}

// MarshalJSON writes the profile with durations in seconds and its ceiling.
func (p Profile) MarshalJSON() ([]byte, error) {
	return json.Marshal(profileJSON{
		Name: p.Name, WithdrawalPenalty: p.WithdrawalPenalty, ReadvertisementPenalty: p.ReadvertisementPenalty,
		AttributeChangePenalty: p.AttributeChangePenalty, SuppressThreshold: p.SuppressThreshold,
		ReuseThreshold: p.ReuseThreshold, HalfLifeSeconds: p.HalfLife.Seconds(),
		MaxSuppressSeconds: p.MaxSuppress.Seconds(), Ceiling: p.Ceiling(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Profile) UnmarshalJSON(b []byte) error {
	var j profileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Profile{
		Name: j.Name, WithdrawalPenalty: j.WithdrawalPenalty, ReadvertisementPenalty: j.ReadvertisementPenalty,
		AttributeChangePenalty: j.AttributeChangePenalty, SuppressThreshold: j.SuppressThreshold,
		ReuseThreshold: j.ReuseThreshold, HalfLife: time.Duration(j.HalfLifeSeconds * float64(time.Second)),
		MaxSuppress: time.Duration(j.MaxSuppressSeconds * float64(time.Second)),
	}
	return nil
}
