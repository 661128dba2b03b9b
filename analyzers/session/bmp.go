package session

import (
	"context"
	"sync"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/bgpnames"
)

// FromBMP converts the station's peers (bmp.Station.Peers, or the
// /api/v1/bmp/peers document) to the analyzer's input.
func FromBMP(peers []bmp.PeerInfo) []Peer {
	out := make([]Peer, 0, len(peers))
	for _, p := range peers {
		sp := Peer{Router: p.Router, PeerAddress: p.PeerAddress, PeerAS: p.PeerAS, PeerBGPID: p.PeerBGPID,
			State: p.State, Table: p.Table, Routes: p.Routes, LastDownReason: p.LastDownReason}
		if p.UpSince != nil {
			sp.UpSince = *p.UpSince
		}
		out = append(out, sp)
	}
	return out
}

// DownFromBMP converts a Peer Down event; ok is false for other events. The
// router's per-peer timestamp is preferred, as it says when the session
// went down rather than when the station heard of it.
func DownFromBMP(ev bmp.Event) (d Down, ok bool) {
	if ev.Kind != bmp.PeerDown {
		return Down{}, false
	}
	d = Down{Time: ev.Arrival, Router: ev.Router, PeerAddress: ev.PeerAddress.String(), PeerAS: ev.PeerAS}
	if !ev.PeerTime.IsZero() {
		d.Time = ev.PeerTime
	}
	if pd := ev.PeerDownInfo; pd != nil {
		d.Reason = bgpnames.PeerDownReason(pd.Reason)
		if n := pd.Notification; n != nil {
			d.Notification = &bgpnames.Notification{Code: n.Code, Subcode: n.Subcode, Data: n.Data}
		}
	}
	return d, true
}

// MaxDowns bounds a DownLog: a flapping session must not grow it forever.
const MaxDowns = 1024

// DownLog keeps the most recent Peer Downs of a station for Analyze. The
// zero value is ready to use.
type DownLog struct {
	mu    sync.Mutex
	downs []Down
}

// Add records a down, dropping the oldest beyond MaxDowns.
func (l *DownLog) Add(d Down) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.downs = append(l.downs, d)
	if len(l.downs) > MaxDowns {
		l.downs = append(l.downs[:0], l.downs[len(l.downs)-MaxDowns:]...)
	}
}

// Recent returns a copy of the recorded downs, oldest first.
func (l *DownLog) Recent() []Down {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Down(nil), l.downs...)
}

// Feed records the Peer Downs of a station subscription until ctx is done
// or events is closed.
func (l *DownLog) Feed(ctx context.Context, events <-chan bmp.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if d, ok := DownFromBMP(ev); ok {
				l.Add(d)
			}
		}
	}
}
