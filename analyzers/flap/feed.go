package flap

import (
	"context"
	"time"

	"github.com/anydiag/anydiag/bmp"
)

// FeedOptions tune Feed.
type FeedOptions struct {
	// Table is the BMP table whose route events count (default
	// adj-rib-in-pre: what the monitored router receives, hence what an
	// upstream damps). Counting two tables would count every flap twice.
	Table string
	// PruneEvery is the event time between two prunes (default 1 minute).
	PruneEvery time.Duration
	// Observed, when set, is called after each event is applied, with the
	// event and the BMP event's arrival time.
	Observed func(ev Event, arrival time.Time)
}

// FromBMP converts a BMP route event; false for other kinds and tables.
func FromBMP(e bmp.Event, table string) (Event, bool) {
	if table == "" {
		table = "adj-rib-in-pre"
	}
	var k Kind
	switch e.Kind {
	case bmp.RouteAnnounced:
		k = Announce
	case bmp.RouteWithdrawn:
		k = Withdraw
	case bmp.RouteChanged:
		k = AttrChange
	default:
		return Event{}, false
	}
	if e.Table.String() != table || !e.Prefix.IsValid() {
		return Event{}, false
	}
	// The station's arrival time, not the router's per-peer timestamp:
	// findings are evaluated against the station's clock, and router clocks drift.
	t := e.Arrival
	if t.IsZero() {
		t = e.PeerTime
	}
	return Event{Time: t, Router: e.Router, Peer: e.PeerAddress.String(), Prefix: e.Prefix, Kind: k}, true
}

// Feed applies the route events of a station subscription to s until ctx is
// done or events is closed. A Peer Down's implicit withdrawals are not
// penalised: routers reset damping state with the session.
func Feed(ctx context.Context, events <-chan bmp.Event, s *Set, o FeedOptions) error {
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Minute
	}
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-events:
			if !ok {
				return nil
			}
			ev, ok := FromBMP(e, o.Table)
			if !ok {
				continue
			}
			if err := s.Observe(ev); err != nil {
				return err
			}
			if o.Observed != nil {
				o.Observed(ev, e.Arrival)
			}
			if lastPrune.IsZero() {
				lastPrune = ev.Time
			} else if ev.Time.Sub(lastPrune) >= o.PruneEvery {
				s.Prune(ev.Time)
				lastPrune = ev.Time
			}
		}
	}
}
