package policy

import (
	"context"
	"net/netip"
)

// GracefulShutdownCommunity is the RFC 8326 GRACEFUL_SHUTDOWN well-known
// community; receivers that honour it lower the route's preference so traffic
// moves away before the route is withdrawn.
const GracefulShutdownCommunity = "65535:0"

// Attributes are the path attributes the policy asks a speaker to attach to
// an announcement. The zero value is a plain announcement: no MED, no
// prepending, no community.
type Attributes struct {
	// MED is the MULTI_EXIT_DISC to send; nil sends none.
	MED *uint32 `json:"med,omitempty"`
	// Prepend is how many extra times the speaker's own AS is prepended to
	// the AS_PATH (0 means none).
	Prepend int `json:"prepend,omitempty"`
	// Communities are RFC 1997 communities written "ASN:VALUE", for example
	// GracefulShutdownCommunity.
	Communities []string `json:"communities,omitempty"`
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
// GoBGP, BIRD, FRR, external GoBGP). The policy package defines it so that
// speakers depend on policy, not the reverse.
//
// Contract, which every implementation must keep:
//   - Announce originates prefix with exactly attrs; announcing a prefix that
//     is already announced replaces its attributes (it is how the policy
//     degrades and restores a route) and is not an error.
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
