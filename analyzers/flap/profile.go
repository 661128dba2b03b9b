package flap

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Profile is one set of RFC 2439 damping parameters: the penalties each kind
// of event adds to the figure of merit and the thresholds an upstream router
// applies to it.
type Profile struct {
	// Name identifies the profile in output and in the API's ?profile= query.
	Name string `yaml:"name" json:"name"`
	// WithdrawalPenalty is added when the route is withdrawn.
	WithdrawalPenalty float64 `yaml:"withdrawal_penalty" json:"withdrawal_penalty"`
	// ReadvertisementPenalty is added when a withdrawn route comes back.
	ReadvertisementPenalty float64 `yaml:"readvertisement_penalty" json:"readvertisement_penalty"`
	// AttributeChangePenalty is added when a reachable route changes attributes.
	AttributeChangePenalty float64 `yaml:"attribute_change_penalty" json:"attribute_change_penalty"`
	// SuppressThreshold: a route whose penalty rises above it is suppressed.
	SuppressThreshold float64 `yaml:"suppress_threshold" json:"suppress_threshold"`
	// ReuseThreshold: a suppressed route is used again once its penalty decays below it.
	ReuseThreshold float64 `yaml:"reuse_threshold" json:"reuse_threshold"`
	// HalfLife is the time the penalty takes to halve.
	HalfLife time.Duration `yaml:"half_life" json:"half_life"`
	// MaxSuppress bounds how long a route stays suppressed; it sets the ceiling.
	MaxSuppress time.Duration `yaml:"max_suppress" json:"max_suppress"`
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

// Ceiling is the highest penalty the profile keeps: reuse × 2^(max_suppress / half_life),
// so that a route at the ceiling decays to reuse in exactly MaxSuppress.
func (p Profile) Ceiling() float64 {
	return p.ReuseThreshold * math.Exp2(p.MaxSuppress.Seconds()/p.HalfLife.Seconds())
}

// Validate reports parameters that would make damping meaningless or the
// arithmetic undefined.
func (p Profile) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("flap profile: name is empty")
	case p.HalfLife <= 0:
		return fmt.Errorf("flap profile %s: half_life must be positive, got %s", p.Name, p.HalfLife)
	case p.MaxSuppress <= 0:
		return fmt.Errorf("flap profile %s: max_suppress must be positive, got %s", p.Name, p.MaxSuppress)
	case p.WithdrawalPenalty < 0 || p.ReadvertisementPenalty < 0 || p.AttributeChangePenalty < 0:
		return fmt.Errorf("flap profile %s: penalties must not be negative", p.Name)
	case !(p.ReuseThreshold > 0):
		return fmt.Errorf("flap profile %s: reuse_threshold must be positive, got %g", p.Name, p.ReuseThreshold)
	case !(p.SuppressThreshold > p.ReuseThreshold):
		return fmt.Errorf("flap profile %s: suppress_threshold %g must exceed reuse_threshold %g",
			p.Name, p.SuppressThreshold, p.ReuseThreshold)
	case !(p.Ceiling() > p.SuppressThreshold):
		return fmt.Errorf("flap profile %s: ceiling %g (reuse × 2^(max_suppress/half_life)) does not exceed suppress_threshold %g, so nothing is ever suppressed",
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
		return Profile{}, fmt.Errorf("flap profile: %w", err)
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
		return Profile{}, fmt.Errorf("flap profile %q is neither cisco, juniper nor a readable file: %w", nameOrFile, err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return Profile{}, fmt.Errorf("%s: %w", nameOrFile, err)
	}
	return p, nil
}
