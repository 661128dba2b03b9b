package visibility

import (
	"fmt"
	"net/netip"

	"github.com/anydiag/anydiag/bmp"
)

// FromBMP converts the station's route rows into Routes.
func FromBMP(rows []bmp.RouteInfo) ([]Route, error) {
	out := make([]Route, 0, len(rows))
	for _, r := range rows {
		p, err := netip.ParsePrefix(r.Prefix)
		if err != nil {
			return nil, fmt.Errorf("visibility: route from %s peer %s: prefix %q: %w", r.Router, r.PeerAddress, r.Prefix, err)
		}
		out = append(out, Route{
			Router: r.Router, PeerAddress: r.PeerAddress, PeerAS: r.PeerAS, Table: r.Table, Prefix: p,
			PathID: r.PathID, ASPath: r.ASPath, NextHop: r.NextHop, Origin: r.Origin, MED: r.MED,
			LocalPref: r.LocalPref, Communities: r.Communities, LargeCommunities: r.LargeCommunities,
		})
	}
	return out, nil
}
