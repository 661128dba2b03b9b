package speakers

import (
	"fmt"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
)

// Peer is one BGP session of a speaker, as the speaker itself reports it
// (analyzers/session.FromSpeaker turns it into what the session analyzer
// reads).
type Peer struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// State is the session state: Idle, Connect, Active, OpenSent,
	// OpenConfirm or Established.
	State string `json:"state"`
	// AdminDown is true when the neighbor is administratively shut.
	AdminDown bool `json:"admin_down,omitempty"`
	// Since is when the session was last established (zero if never).
	Since time.Time `json:"since,omitzero"`
	// Received, Accepted and Advertised count prefixes over all families.
	Received   uint64 `json:"received"`
	Accepted   uint64 `json:"accepted"`
	Advertised uint64 `json:"advertised"`
	// Families are the address families negotiated on the session.
	Families []string `json:"families,omitempty"`
	// PerFamily has one entry per configured family, with its counters.
	PerFamily []FamilyState `json:"per_family,omitempty"`
	// LastError is why the session last went down, when known, decoded
	// ("the peer sent Cease/Administrative Shutdown (6/2)").
	LastError string `json:"last_error,omitempty"`
	// LastDown is the last time the session left Established, when known.
	LastDown *PeerDown `json:"last_down,omitempty"`
}

// FamilyState is one configured address family of a neighbor.
type FamilyState struct {
	// Family is "ipv4-unicast" or "ipv6-unicast" (or "afiA-safiS").
	Family string `json:"family"`
	// Negotiated is true while the session is Established and both sides
	// enabled the family.
	Negotiated bool `json:"negotiated"`
	// Received, Accepted and Advertised count prefixes of this family.
	Received   uint64 `json:"received"`
	Accepted   uint64 `json:"accepted"`
	Advertised uint64 `json:"advertised"`
}

// String makes FamilyState readable in test failures.
func (f FamilyState) String() string {
	return fmt.Sprintf("%s negotiated=%t received=%d accepted=%d advertised=%d", f.Family, f.Negotiated, f.Received, f.Accepted, f.Advertised)
}

// Established reports whether the session is up.
func (p Peer) Established() bool { return p.State == "Established" }

// PeerDown is why and when a speaker's session last left Established.
type PeerDown struct {
	Time time.Time `json:"time"`
	// Reason is the RFC 7854 Peer Down reason the speaker's log or API gave.
	Reason bgpnames.PeerDownReason `json:"reason"`
	// Notification is the NOTIFICATION sent or received, when there was one.
	Notification *bgpnames.Notification `json:"notification,omitempty"`
}
