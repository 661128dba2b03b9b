package session

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/anydiag/anydiag/internal/bgpnames"
)

func TestFromBMP(t *testing.T) {
	up := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got := FromBMP([]bmp.PeerInfo{
		{Router: "r1", PeerAddress: "192.0.2.1", PeerAS: 65001, State: "up", Table: "adj-rib-in-pre", Routes: 3, UpSince: &up},
		{Router: "r1", PeerAddress: "192.0.2.2", PeerAS: 65002, State: "down", LastDownReason: "x"},
	})
	if len(got) != 2 || !got[0].UpSince.Equal(up) || got[0].Routes != 3 || !got[1].UpSince.IsZero() || got[1].LastDownReason != "x" {
		t.Errorf("FromBMP = %+v", got)
	}
}

func TestDownFromBMP(t *testing.T) {
	arrival := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peerTime := arrival.Add(-time.Second)
	addr := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name string
		ev   bmp.Event
		ok   bool
		want Down
	}{
		{"route event", bmp.Event{Kind: bmp.RouteAnnounced}, false, Down{}},
		{"arrival time without peer time", bmp.Event{Kind: bmp.PeerDown, Arrival: arrival, Router: "r", PeerAddress: addr, PeerAS: 1},
			true, Down{Time: arrival, Router: "r", PeerAddress: "192.0.2.1", PeerAS: 1}},
		{"peer time and notification", bmp.Event{Kind: bmp.PeerDown, Arrival: arrival, PeerTime: peerTime, Router: "r", PeerAddress: addr,
			PeerDownInfo: &wire.PeerDown{Reason: 3, Notification: &wire.Notification{Code: 6, Subcode: 2}}},
			true, Down{Time: peerTime, Router: "r", PeerAddress: "192.0.2.1", Reason: bgpnames.PeerDownRemoteNotification, Notification: &bgpnames.Notification{Code: 6, Subcode: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := DownFromBMP(tt.ev)
			if ok != tt.ok || !d.Time.Equal(tt.want.Time) || d.Router != tt.want.Router || d.PeerAddress != tt.want.PeerAddress ||
				d.Reason != tt.want.Reason || (d.Notification == nil) != (tt.want.Notification == nil) ||
				(d.Notification != nil && (d.Notification.Code != tt.want.Notification.Code || d.Notification.Subcode != tt.want.Notification.Subcode)) {
				t.Errorf("DownFromBMP = %+v, %v; want %+v, %v", d, ok, tt.want, tt.ok)
			}
		})
	}
}

// The log keeps the newest MaxDowns, and Feed records only Peer Downs.
func TestDownLog(t *testing.T) {
	var l DownLog
	events := make(chan bmp.Event, 2*(MaxDowns+5))
	for i := range MaxDowns + 5 {
		events <- bmp.Event{Kind: bmp.PeerDown, PeerAS: uint32(i)}
		events <- bmp.Event{Kind: bmp.RouteWithdrawn}
	}
	close(events)
	l.Feed(context.Background(), events)
	r := l.Recent()
	if len(r) != MaxDowns || r[0].PeerAS != 5 || r[len(r)-1].PeerAS != MaxDowns+4 {
		t.Fatalf("kept %d downs, first AS %d, last %d", len(r), r[0].PeerAS, r[len(r)-1].PeerAS)
	}
}
