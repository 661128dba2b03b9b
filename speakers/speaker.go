package speakers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Attributes are the path attributes the policy asks a speaker to attach to
// an announcement. The zero value is a plain announcement: no MED, no
// prepending, no community.
type Attributes struct {
	// MED is the MULTI_EXIT_DISC to send; nil sends none.
	MED *uint32 `json:"med,omitempty"`
	// Prepend is how many extra times the speaker's own AS is prepended to
	// the AS_PATH (0 means none).
	Prepend int `json:"prepend,omitempty"`
	// Communities are standard and large communities, for example
	// GracefulShutdown.
	Communities []Community `json:"communities,omitempty"`
}

// Degraded reports whether the attributes make the route less preferred than
// a plain announcement.
func (a Attributes) Degraded() bool {
	return a.MED != nil || a.Prepend > 0 || len(a.Communities) > 0
}

// PrefixState is what a speaker reports about one prefix it manages.
type PrefixState struct {
	Prefix     netip.Prefix `json:"prefix"`
	Announced  bool         `json:"announced"`
	Attributes Attributes   `json:"attributes"`
}

// Speaker carries out the policy's decisions on one BGP daemon (embedded
// GoBGP, BIRD, FRR, external GoBGP). It lives here, beside the backends,
// so that the policy depends on the speakers' contract and no backend
// depends on the policy.
//
// Contract, which every implementation must keep:
//   - Announce originates prefix with exactly attrs; announcing a prefix that
//     is already announced replaces its attributes (it is how the policy
//     degrades and restores a route) and is not an error. Attributes the
//     speaker cannot set (see Capabilities) are refused with an error that
//     wraps ErrUnsupported, before anything changes.
//   - Withdraw stops originating prefix; withdrawing a prefix that is not
//     announced is not an error. It must never withdraw anything but prefix.
//   - State lists the prefixes the speaker currently originates (Announced
//     true) and may list known but withdrawn ones (Announced false).
//   - All methods honour ctx's deadline and are safe for concurrent use; the
//     policy engine calls them from one goroutine at a time.
type Speaker interface {
	Announce(ctx context.Context, prefix netip.Prefix, attrs Attributes) error
	Withdraw(ctx context.Context, prefix netip.Prefix) error
	State(ctx context.Context) ([]PrefixState, error)
}

// ErrUnsupported is wrapped by the error of an Announce asking for
// attributes the speaker cannot set.
var ErrUnsupported = errors.New("not supported by this speaker")

// Capabilities is what a speaker can do besides announcing and
// withdrawing. Each backend package has a Capabilities function that needs
// no running daemon, so a configuration check can refuse, before the agent
// starts, a policy asking a speaker for what it cannot do.
type Capabilities struct {
	// MED: the speaker sets the MULTI_EXIT_DISC of an announcement.
	MED bool `json:"med"`
	// Prepend: the speaker prepends its own AS to the AS_PATH.
	Prepend bool `json:"prepend"`
	// Communities: the speaker attaches RFC 1997 standard communities.
	Communities bool `json:"communities"`
	// LargeCommunities: the speaker attaches RFC 8092 large communities.
	LargeCommunities bool `json:"large_communities"`
	// GracefulShutdown: the speaker can re-announce with GracefulShutdown
	// (RFC 8326) and drain before it withdraws on stop.
	GracefulShutdown bool `json:"graceful_shutdown"`
}

// Missing names what attrs asks for that c cannot do ("MED", "AS-path
// prepend", "communities", "large communities"), nil when c can do all of it.
func (c Capabilities) Missing(attrs Attributes) []string {
	var out []string
	if attrs.MED != nil && !c.MED {
		out = append(out, "MED")
	}
	if attrs.Prepend > 0 && !c.Prepend {
		out = append(out, "AS-path prepend")
	}
	var std, large bool
	for _, cm := range attrs.Communities {
		if cm.IsLarge() {
			large = true
		} else {
			std = true
		}
	}
	if std && !c.Communities {
		out = append(out, "communities")
	}
	if large && !c.LargeCommunities {
		out = append(out, "large communities")
	}
	return out
}

// Check returns an error wrapping ErrUnsupported when attrs asks for
// something c cannot do; speakers call it first in Announce.
func (c Capabilities) Check(attrs Attributes) error {
	if m := c.Missing(attrs); len(m) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(m, ", "), ErrUnsupported)
	}
	return nil
}
