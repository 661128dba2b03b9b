package bmp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/bmp/wire"
)

// RouterInfo is a router as GET /api/v1/bmp/routers lists it.
type RouterInfo struct {
	Address   string    `json:"address"`
	SysName   string    `json:"sys_name"`
	SysDescr  string    `json:"sys_descr"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
	Messages  uint64    `json:"messages"`
}

// PeerInfo is one (router, peer, table) as GET /api/v1/bmp/peers lists it.
type PeerInfo struct {
	Router string `json:"router"`
	// PeerType is global, rd (an RD instance peer: a VRF), local or loc-rib
	// (RFC 7854 4.2, RFC 9069).
	PeerType string `json:"peer_type"`
	// PeerDistinguisher tells apart the VRFs and Loc-RIB instances of one
	// router, as TYPE:ADMIN:NUMBER ("0:0:0" for global peers).
	PeerDistinguisher string `json:"peer_distinguisher"`
	PeerAddress       string `json:"peer_address"`
	PeerAS            uint32 `json:"peer_as"`
	PeerBGPID         string `json:"peer_bgp_id"`
	// State is "up" or "down".
	State string `json:"state"`
	// Table is adj-rib-in-pre, adj-rib-in-post, adj-rib-out-pre,
	// adj-rib-out-post or loc-rib.
	Table          string     `json:"table"`
	Routes         int        `json:"routes"`
	UpSince        *time.Time `json:"up_since"`
	LastDownReason string     `json:"last_down_reason"`
}

// RouteInfo is one route as GET /api/v1/bmp/routes lists it.
type RouteInfo struct {
	Router            string `json:"router"`
	PeerType          string `json:"peer_type"`
	PeerDistinguisher string `json:"peer_distinguisher"`
	PeerAddress       string `json:"peer_address"`
	PeerAS            uint32 `json:"peer_as"`
	Table             string `json:"table"`
	Prefix            string `json:"prefix"`
	PathID            uint32 `json:"path_id"`
	// ASPath is the AS path flattened, AS_SET members in place.
	ASPath           []uint32 `json:"as_path"`
	NextHop          string   `json:"next_hop"`
	Origin           string   `json:"origin"`
	MED              *uint32  `json:"med"`
	LocalPref        *uint32  `json:"local_pref"`
	Communities      []string `json:"communities"`
	LargeCommunities []string `json:"large_communities"`
}

// RouteQuery selects routes; zero fields match everything. Prefix matches
// exactly.
type RouteQuery struct {
	Prefix netip.Prefix
	Router string
	Peer   netip.Addr
	Table  string
	// PeerType is a peer type name (global, rd, local, loc-rib); empty for
	// all.
	PeerType string
	// Distinguisher is a peer distinguisher as FormatDistinguisher writes
	// it; empty for all.
	Distinguisher string
}

// peerFilter is the compiled peer part of a query.
type peerFilter struct {
	router  string
	addr    netip.Addr
	typ     int
	dist    uint64
	hasDist bool
}

func (q RouteQuery) peerFilter() (peerFilter, error) {
	f := peerFilter{router: q.Router, addr: q.Peer, typ: -1}
	if q.PeerType != "" {
		t, ok := wire.ParsePeerType(q.PeerType)
		if !ok {
			return f, fmt.Errorf("peer_type %q: want global, rd, local or loc-rib", q.PeerType)
		}
		f.typ = int(t)
	}
	if q.Distinguisher != "" {
		d, err := wire.ParseDistinguisher(q.Distinguisher)
		if err != nil {
			return f, err
		}
		f.dist, f.hasDist = d, true
	}
	return f, nil
}

func (f *peerFilter) matchRouter(r *router) bool {
	return f.router == "" || f.router == r.addr || f.router == r.sysName
}

func (f *peerFilter) matchPeer(p *peer) bool {
	return (!f.addr.IsValid() || f.addr == p.key.addr) && (f.typ < 0 || f.typ == int(p.key.typ)) &&
		(!f.hasDist || f.dist == p.key.dist)
}

// Routers lists the routers the station has seen, connected or not.
func (s *Station) Routers() []RouterInfo {
	out := []RouterInfo{}
	for _, r := range s.routerList() {
		r.mu.RLock()
		out = append(out, RouterInfo{Address: r.addr, SysName: r.sysName, SysDescr: r.sysDescr, Connected: r.connected.Load(), Since: r.since, Messages: r.messages()})
		r.mu.RUnlock()
	}
	return out
}

// Peers lists every (router, peer, table) that carried a message.
func (s *Station) Peers() []PeerInfo {
	out := []PeerInfo{}
	for _, r := range s.routerList() {
		r.mu.RLock()
		for _, p := range r.sortedPeers() {
			tables := 0
			for t := range p.seen {
				if !p.seen[t] {
					continue
				}
				tables++
				n := 0
				if p.tables[t] != nil {
					n = p.tables[t].len()
				}
				out = append(out, peerInfo(r, p, wire.Table(t), n))
			}
			if tables == 0 {
				// A peer that went up and down without a route still has a
				// state worth showing; its table is the one its header named.
				out = append(out, peerInfo(r, p, defaultTable(p), 0))
			}
		}
		r.mu.RUnlock()
	}
	return out
}

// peerInfo is one row of the peers API. r.mu must be held.
func peerInfo(r *router, p *peer, t wire.Table, routes int) PeerInfo {
	state := "down"
	var since *time.Time
	if p.up {
		state = "up"
		if !p.upSince.IsZero() {
			t := p.upSince
			since = &t
		}
	}
	return PeerInfo{Router: r.addr, PeerType: p.key.typ.String(), PeerDistinguisher: wire.FormatDistinguisher(p.key.dist),
		PeerAddress: p.key.addr.String(), PeerAS: p.as, PeerBGPID: p.bgpID.String(),
		State: state, Table: t.String(), Routes: routes, UpSince: since, LastDownReason: p.lastDown}
}

func defaultTable(p *peer) wire.Table {
	if p.key.typ == wire.PeerLocalRIB {
		return wire.LocRIB
	}
	return wire.AdjRIBInPre
}

type routeSnap struct {
	nlri wire.NLRI
	ref  attrRef
	raw  string
}

// Routes calls fn for every route q selects, stopping at fn's first error.
// The router's lock is held only while a table is copied, so a slow fn never
// stalls a router session for longer than that copy.
func (s *Station) Routes(q RouteQuery, fn func(RouteInfo) error) error {
	var tableFilter wire.Table = wire.NumTables
	if q.Table != "" {
		t, ok := wire.ParseTable(q.Table)
		if !ok {
			return fmt.Errorf("unknown table %q", q.Table)
		}
		tableFilter = t
	}
	pf, err := q.peerFilter()
	if err != nil {
		return err
	}
	decoded := map[string]*wire.Attrs{}
	var snap []routeSnap
	for _, r := range s.routerList() {
		r.mu.RLock()
		match := pf.matchRouter(r)
		var peers []*peer
		if match {
			peers = r.sortedPeers()
		}
		r.mu.RUnlock()
		for _, p := range peers {
			if !pf.matchPeer(p) {
				continue
			}
			for t := wire.Table(0); t < wire.NumTables; t++ {
				if tableFilter != wire.NumTables && t != tableFilter {
					continue
				}
				var peerAS uint32
				snap, peerAS = s.snapshot(r, p, t, q.Prefix, snap[:0])
				for _, rs := range snap {
					a, ok := decoded[rs.raw]
					if !ok {
						var err error
						if a, err = wire.DecodeAttrs([]byte(rs.raw)); err != nil {
							// Stored sets were validated on arrival.
							return fmt.Errorf("route %s: stored attributes: %w", rs.nlri.Prefix, err)
						}
						decoded[rs.raw] = a
					}
					if err := fn(routeInfo(r.addr, p.key, peerAS, t, rs.nlri, a)); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// snapshot copies table t's routes (those of prefix p when valid) with
// their attribute bytes, so that they stay valid after the lock is left.
func (s *Station) snapshot(r *router, p *peer, t wire.Table, pfx netip.Prefix, dst []routeSnap) ([]routeSnap, uint32) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	tb := p.tables[t]
	if tb != nil {
		add := func(n wire.NLRI, ref attrRef) { dst = append(dst, routeSnap{nlri: n, ref: ref}) }
		if pfx.IsValid() {
			tb.lookup(pfx, add)
		} else {
			tb.each(add)
		}
		s.intern.mu.Lock()
		for i := range dst {
			dst[i].raw = s.intern.entries[dst[i].ref].raw
		}
		s.intern.mu.Unlock()
	}
	return dst, p.as
}

func routeInfo(router string, pk peerKey, peerAS uint32, t wire.Table, n wire.NLRI, a *wire.Attrs) RouteInfo {
	ri := RouteInfo{
		Router: router, PeerType: pk.typ.String(), PeerDistinguisher: wire.FormatDistinguisher(pk.dist),
		PeerAddress: pk.addr.String(), PeerAS: peerAS, Table: t.String(),
		Prefix: n.Prefix.String(), PathID: n.PathID, ASPath: a.ASPath, Origin: a.Origin.String(),
		Communities: make([]string, len(a.Communities)), LargeCommunities: make([]string, len(a.LargeCommunities)),
	}
	if ri.ASPath == nil {
		ri.ASPath = []uint32{}
	}
	if a.NextHop.IsValid() {
		ri.NextHop = a.NextHop.String()
	}
	if a.HasMED {
		v := a.MED
		ri.MED = &v
	}
	if a.HasLocalPref {
		v := a.LocalPref
		ri.LocalPref = &v
	}
	for i, c := range a.Communities {
		ri.Communities[i] = c.String()
	}
	for i, c := range a.LargeCommunities {
		ri.LargeCommunities[i] = c.String()
	}
	return ri
}
