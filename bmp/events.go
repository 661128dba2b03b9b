package bmp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anydiag/anydiag/bmp/wire"
)

// EventKind says what happened.
type EventKind uint8

// Event kinds.
const (
	// RouteAnnounced: a prefix/path ID the table did not hold appeared.
	RouteAnnounced EventKind = iota + 1
	// RouteWithdrawn: a route the table held was withdrawn. Routes flushed
	// by a Peer Down, a new Peer Up or a router disconnect are not reported
	// one by one: PeerDown, PeerUp and RouterGone imply them.
	RouteWithdrawn
	// RouteChanged: a held route was announced again with other attributes.
	RouteChanged
	// PeerUp: a Peer Up notification; the peer's earlier routes are gone.
	PeerUp
	// PeerDown: a Peer Down notification; Reason and PeerDown say why.
	PeerDown
	// RouterConnected: a router opened a BMP session.
	RouterConnected
	// RouterGone: a router's session ended; Reason says why. All its state
	// is flushed.
	RouterGone
	// Statistics: a Statistics Report; Stats holds it.
	Statistics
	// EndOfRIB: an End-of-RIB marker for Family: the initial dump is done.
	EndOfRIB
)

var eventKindNames = [...]string{"", "route_announced", "route_withdrawn", "route_changed", "peer_up", "peer_down", "router_connected", "router_gone", "statistics", "end_of_rib"}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one change the station saw. Fields that do not apply to a kind
// are zero. Events are values: a consumer may keep them. Attrs is shared
// between events and routes and must not be modified.
type Event struct {
	Kind EventKind
	// Router is the BMP router's address.
	Router string
	// The monitored peer (not set for router events). Loc-RIB events have
	// PeerType 3 and the address the router sent, usually 0.0.0.0.
	PeerAddress       netip.Addr
	PeerAS            uint32
	PeerBGPID         netip.Addr
	PeerType          wire.PeerType
	PeerDistinguisher uint64
	Table             wire.Table
	// Prefix and PathID name the route of route events.
	Prefix netip.Prefix
	PathID uint32
	// Attrs are the route's new attributes (announced, changed).
	Attrs *wire.Attrs
	// Reason is the words of a peer down ("remote system closed the session
	// with a NOTIFICATION: Cease/Administrative Reset (6/4)") or of a router
	// going away.
	Reason string
	// PeerDownInfo is the decoded Peer Down notification.
	PeerDownInfo *wire.PeerDown
	// PeerUpInfo is the decoded Peer Up notification (both OPENs).
	PeerUpInfo *wire.PeerUp
	// Stats is the Statistics Report's content.
	Stats []wire.Stat
	// Family is the End-of-RIB's family.
	Family wire.Family
	// PeerTime is the per-peer header's timestamp (zero when the router
	// sent none); Arrival is when the station read the message.
	PeerTime time.Time
	Arrival  time.Time
}

// hub fans events out to subscribers without ever blocking the sender: each
// subscriber has a bounded channel and an event that does not fit is
// dropped and counted.
type hub struct {
	mu      sync.RWMutex
	subs    map[*subscriber]struct{}
	n       atomic.Int32
	dropped atomic.Uint64
}

type subscriber struct {
	ch chan Event
}

func (h *hub) subscribe(buffer int) (<-chan Event, func()) {
	if buffer < 1 {
		buffer = 1
	}
	s := &subscriber{ch: make(chan Event, buffer)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*subscriber]struct{})
	}
	h.subs[s] = struct{}{}
	h.n.Add(1)
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.n.Add(-1)
			close(s.ch)
			h.mu.Unlock()
		})
	}
}

// active is the fast check the hot path makes before building events.
func (h *hub) active() bool { return h.n.Load() > 0 }

func (h *hub) emit(e *Event) {
	if !h.active() {
		return
	}
	h.mu.RLock()
	for s := range h.subs {
		select {
		case s.ch <- *e:
		default:
			h.dropped.Add(1)
		}
	}
	h.mu.RUnlock()
}
