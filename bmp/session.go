package bmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/bmp/wire"
)

// session reads one router's stream and applies it. Its buffers are reused
// from message to message, which is what keeps route monitoring free of
// per-route allocations.
type session struct {
	st  *Station
	rt  *router
	rd  *wire.Reader
	upd wire.Update
	rel []attrRef
	// last caches the peer of the previous message: a table dump is long
	// runs of messages for one peer.
	last    *peer
	lastKey peerKey
	lastGen uint64

	// deadline, when the stream has one, is armed so that each message must
	// arrive in full within idle() and silence between messages lasts at
	// most silence(); armedAt is when the message deadline last was.
	deadline deadliner
	armedAt  time.Time
	// statsEvery is the longest gap seen between two Statistics Reports of
	// one peer: a router that reports every 10 minutes is not idle at 5.
	statsEvery time.Duration
	// pending is set while a session from the address of a live router has
	// not sent its Initiation yet.
	pending bool
	// started is set once a whole message arrived.
	started bool
	// dropped counts announcements dropped at a route cap in the current
	// message, reported once per message.
	dropped int
}

// maxStatsEvery bounds the statistics interval a router can claim.
const maxStatsEvery = time.Hour

// idle is the time a message has to arrive in full once its first byte
// came (and a new session has to send its first message): a sender that
// trickles bytes is cut off by it.
func (ss *session) idle() time.Duration { return ss.st.lim.IdleTimeout.D() }

// silence is how long the stream may stay silent between two messages:
// unlimited (0) for a router that sends no Statistics Reports, since a
// stable router has nothing to say (TCP keepalive still finds a dead one);
// StatisticsIntervals × its interval, and at least idle(), for one that
// does.
func (ss *session) silence() time.Duration {
	if ss.statsEvery == 0 {
		return 0
	}
	return max(ss.idle(), time.Duration(ss.st.lim.StatisticsIntervals)*ss.statsEvery)
}

// await applies the read deadlines before a message: the silence deadline
// while nothing is buffered, then idle() for the message itself. The
// message deadline is re-armed only once a quarter of it has passed, so a
// fast stream (always buffered) does not pay a timer update per message.
// Deadlines are wall-clock by nature (the kernel's), so this uses time.Now,
// not the station's clock.
func (ss *session) await() error {
	if ss.rd.Buffered() == 0 {
		var d time.Duration
		if ss.started {
			d = ss.silence()
		} else {
			d = ss.idle()
		}
		var at time.Time
		if d > 0 {
			at = time.Now().Add(d)
		}
		ss.deadline.SetReadDeadline(at)
		ss.armedAt = time.Time{}
		if err := ss.rd.Wait(); err != nil {
			return err
		}
	}
	now := time.Now()
	if ss.armedAt.IsZero() || now.Sub(ss.armedAt) >= ss.idle()/4 {
		ss.armedAt = now
		ss.deadline.SetReadDeadline(now.Add(ss.idle()))
	}
	return nil
}

func (ss *session) run(ctx context.Context) error {
	for ctx.Err() == nil {
		if ss.deadline != nil {
			if err := ss.await(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
		msg, err := ss.rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		ss.started = true
		if err := ss.handle(msg); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func badMessage(t wire.MsgType, err error) error {
	return &sessionError{reason: "bad_message", err: fmt.Errorf("%s: %w", t, err)}
}

func (ss *session) handle(msg []byte) error {
	t := wire.MsgType(msg[5])
	arrival := ss.st.clock()
	if int(t) < wire.NumMsgTypes {
		ss.rt.msgs[t].Add(1)
	} else {
		ss.rt.msgs[wire.NumMsgTypes].Add(1)
		// RFC 7854 section 4.1: unknown types are for future use; the framing
		// is intact, so skip them rather than drop the router.
		return nil
	}
	body := msg[wire.CommonHeaderLen:]
	if ss.pending && t != wire.MsgInitiation {
		ss.st.limit(limitNoInitiation, ss.rt.addr, "second session from a connected router's address closed: it did not begin with an Initiation", 1)
		return &sessionError{reason: limitNoInitiation, err: fmt.Errorf("%s before any Initiation from the address of a router whose session is open: RFC 7854 wants the Initiation first", t)}
	}
	switch t {
	case wire.MsgInitiation:
		in, err := wire.DecodeInitiation(body)
		if err != nil {
			return badMessage(t, err)
		}
		ss.rt.mu.Lock()
		ss.rt.info, ss.rt.sysName, ss.rt.sysDescr = in, in.SysName, in.SysDescr
		ss.rt.mu.Unlock()
		if ss.pending {
			ss.pending = false
			ss.st.takeOver(ss.rt)
		}
		return nil
	case wire.MsgTermination:
		tm, err := wire.DecodeTermination(body)
		if err != nil {
			return badMessage(t, err)
		}
		return fmt.Errorf("%w (%s)", errTerminated, tm.ReasonText())
	}
	var h wire.PeerHeader
	if err := wire.DecodePeerHeader(body, &h); err != nil {
		return badMessage(t, err)
	}
	rest := body[wire.PeerHeaderLen:]
	switch t {
	case wire.MsgRouteMonitoring:
		return ss.routeMonitoring(&h, rest, arrival)
	case wire.MsgPeerUp:
		return ss.peerUp(&h, rest, arrival)
	case wire.MsgPeerDown:
		return ss.peerDown(&h, rest, arrival)
	case wire.MsgStatisticsReport:
		stats, err := wire.DecodeStats(rest)
		if err != nil {
			return badMessage(t, err)
		}
		ss.rt.mu.Lock()
		p := ss.peer(&h)
		if p == nil {
			ss.rt.mu.Unlock()
			return nil
		}
		if !p.statsAt.IsZero() {
			if d := arrival.Sub(p.statsAt); d > ss.statsEvery {
				ss.statsEvery = min(d, maxStatsEvery)
			}
		}
		p.statsAt = arrival
		p.seen[h.Table()] = true
		if p.stats == nil {
			p.stats = make(map[statKey]wire.Stat)
		}
		for _, s := range stats {
			k := statKey{typ: s.Type}
			if s.Family != nil {
				k.family = *s.Family
			}
			p.stats[k] = s
		}
		ss.rt.mu.Unlock()
		ss.st.hub.emit(ss.peerEvent(Statistics, &h, p, arrival, func(e *Event) { e.Stats = stats }))
	case wire.MsgRouteMirroring:
		m, err := wire.DecodeRouteMirroring(rest)
		if err != nil {
			return badMessage(t, err)
		}
		ss.rt.mirrored.Add(uint64(m.Messages))
	}
	return nil
}

// peer finds or creates the peer of h. rt.mu must be held for writing. It
// returns nil, and counts the hit, when h names a new peer and the router
// has its maximum of peers: the message is then dropped.
func (ss *session) peer(h *wire.PeerHeader) *peer {
	k := peerKey{typ: h.Type, dist: h.Distinguisher, addr: h.Address}
	if ss.last != nil && ss.lastKey == k && ss.lastGen == ss.rt.peerGen.Load() {
		return ss.last
	}
	p := ss.rt.peers[k]
	if p == nil {
		if len(ss.rt.peers) >= ss.st.lim.MaxPeersPerRouter {
			ss.st.limit(limitPeers, ss.rt.addr, fmt.Sprintf("messages about peers beyond the first %d dropped (limits.max_peers_per_router)", ss.st.lim.MaxPeersPerRouter), 1)
			return nil
		}
		// Route monitoring may come without a Peer Up: GoBGP v3 sends none
		// for Loc-RIB, and a station may join a stream late in a replay.
		p = &peer{key: k, as: h.AS, bgpID: h.BGPID, up: true, upSince: h.Time}
		ss.rt.peers[k] = p
	}
	ss.last, ss.lastKey, ss.lastGen = p, k, ss.rt.peerGen.Load()
	return p
}

func (ss *session) peerEvent(kind EventKind, h *wire.PeerHeader, p *peer, arrival time.Time, fill func(*Event)) *Event {
	e := &Event{
		Kind: kind, Router: ss.rt.addr, PeerAddress: h.Address, PeerAS: h.AS, PeerBGPID: h.BGPID,
		PeerType: h.Type, PeerDistinguisher: h.Distinguisher, Table: h.Table(), PeerTime: h.Time, Arrival: arrival,
	}
	if fill != nil {
		fill(e)
	}
	return e
}

// flushPeer drops every route of p. rt.mu must be held for writing; the
// references are released by the caller through ss.rel.
func (ss *session) flushPeer(p *peer) {
	for i, t := range p.tables {
		if t != nil {
			ss.rel = t.refs(ss.rel)
			p.tables[i] = nil
		}
	}
	ss.rt.routes -= p.routes
	p.routes, p.capped = 0, false
}

func (ss *session) releaseAll() {
	ss.st.intern.release(ss.rel)
	clear(ss.rel)
	ss.rel = ss.rel[:0]
	if cap(ss.rel) > 1<<16 {
		ss.rel = nil
	}
}

func (ss *session) peerUp(h *wire.PeerHeader, b []byte, arrival time.Time) error {
	v6 := h.Type != wire.PeerLocalRIB && h.Flags&wire.FlagV != 0
	up, err := wire.DecodePeerUp(b, v6)
	if err != nil {
		return badMessage(wire.MsgPeerUp, err)
	}
	ss.rt.mu.Lock()
	p := ss.peer(h)
	if p == nil {
		ss.rt.mu.Unlock()
		return nil
	}
	ss.flushPeer(p)
	p.as, p.bgpID, p.up, p.peerUp = h.AS, h.BGPID, true, up
	p.upSince = h.Time
	if p.upSince.IsZero() {
		p.upSince = arrival
	}
	p.stats = nil
	for t := range p.addPath {
		p.addPath[t] = p.expectedAddPath(wire.Table(t))
	}
	ss.rt.mu.Unlock()
	ss.releaseAll()
	ss.st.hub.emit(ss.peerEvent(PeerUp, h, p, arrival, func(e *Event) { e.PeerUpInfo = up }))
	return nil
}

func (ss *session) peerDown(h *wire.PeerHeader, b []byte, arrival time.Time) error {
	d, err := wire.DecodePeerDown(b)
	if err != nil {
		return badMessage(wire.MsgPeerDown, err)
	}
	why := d.ReasonText()
	ss.rt.mu.Lock()
	p := ss.peer(h)
	if p == nil {
		ss.rt.mu.Unlock()
		return nil
	}
	ss.flushPeer(p)
	p.up, p.lastDown, p.downAt = false, why, arrival
	ss.rt.mu.Unlock()
	ss.releaseAll()
	ss.st.log.Info("bmp peer down", "router", ss.rt.addr, "peer", h.Address, "as", h.AS, "reason", why)
	ss.st.hub.emit(ss.peerEvent(PeerDown, h, p, arrival, func(e *Event) { e.Reason, e.PeerDownInfo = why, d }))
	return nil
}

// flushRouter drops every route of the router when its session ends; peers
// stay listed, down, with why.
func (ss *session) flushRouter(why string) {
	ss.rt.mu.Lock()
	for _, p := range ss.rt.peers {
		ss.flushPeer(p)
		if p.up {
			p.up, p.lastDown, p.downAt = false, why, ss.st.clock()
		}
	}
	ss.rt.goneAt.Store(ss.st.clock().UnixNano())
	ss.rt.connected.Store(false)
	ss.rt.mu.Unlock()
	ss.releaseAll()
}

// routeMonitoring applies one UPDATE. It is the hot path: the UPDATE is
// walked into reused slices, its attribute set interned once for all its
// NLRI, and the table updated under one lock. Each step is a method below.
func (ss *session) routeMonitoring(h *wire.PeerHeader, msg []byte, arrival time.Time) error {
	tbl := h.Table()
	p := ss.cachedPeer(h)
	if p == nil {
		return nil
	}
	ap, err := ss.decodeUpdate(h, p, tbl, msg)
	if err != nil {
		return err
	}
	emit := ss.st.hub.active()
	ref, attrs, announced := ss.internAttrs(h, emit)
	return ss.applyUpdate(h, p, tbl, ap, ref, attrs, announced, emit, arrival)
}

// cachedPeer returns the message's peer, from the previous message's when
// it is the same one still in the map (a table dump is long runs of one
// peer), or nil when the peer is unknown.
func (ss *session) cachedPeer(h *wire.PeerHeader) *peer {
	k := peerKey{typ: h.Type, dist: h.Distinguisher, addr: h.Address}
	if p := ss.last; p != nil && ss.lastKey == k && ss.lastGen == ss.rt.peerGen.Load() {
		return p
	}
	ss.rt.mu.Lock()
	p := ss.peer(h)
	ss.rt.mu.Unlock()
	return p
}

// decodeUpdate decodes msg into ss.upd and returns the ADD-PATH reading
// that worked. The capabilities say whether path IDs are expected, but
// senders disagree with them (a family with path IDs it did not
// negotiate, or none where it did): an NLRI error is retried with the
// family toggled, then with any path ID, and the sender is followed and
// counted. The peer's ADD-PATH and Peer Up fields are written only by this
// goroutine, so reading them needs no lock.
func (ss *session) decodeUpdate(h *wire.PeerHeader, p *peer, tbl wire.Table, msg []byte) (wire.AddPath, error) {
	as4 := !h.TwoByteAS()
	if tbl == wire.AdjRIBInPre && p.peerUp != nil {
		// Pre-policy messages are the UPDATEs as received: the negotiated
		// capability decides their AS_PATH encoding.
		as4 = p.peerUp.FourByteAS()
	}
	expected := p.expectedAddPath(tbl)
	ap := p.addPath[tbl]
	u := &ss.upd
	err := u.Decode(msg, as4, ap)
	for tries := 0; tries < 2 && err != nil; tries++ {
		var ne *wire.NLRIError
		if !errors.As(err, &ne) {
			break
		}
		ap = ap.Toggle(ne.Family)
		err = u.Decode(msg, as4, ap)
	}
	if err != nil && (expected.IPv4 || expected.IPv6) {
		// Both readings failed: the sender may number paths with large IDs.
		ap = expected
		ap.AnyPathID = true
		err = u.Decode(msg, as4, ap)
		ap.AnyPathID = false
	}
	if err != nil {
		return ap, badMessage(wire.MsgRouteMonitoring, fmt.Errorf("peer %s %s: %w", h.Address, tbl, err))
	}
	if ap != p.addPath[tbl] {
		ss.st.log.Info("bmp: sender's ADD-PATH use differs from the capabilities; following the sender",
			"router", ss.rt.addr, "peer", h.Address, "table", tbl.String(),
			"ipv4_path_ids", ap.IPv4, "ipv6_path_ids", ap.IPv6)
	}
	if (expected.IPv4 && !ap.IPv4) || (expected.IPv6 && !ap.IPv6) {
		ss.rt.addPathMissing.Add(1)
	} else if (!expected.IPv4 && ap.IPv4) || (!expected.IPv6 && ap.IPv6) {
		ss.rt.addPathExtra.Add(1)
	}
	if u.OtherFamilies > 0 {
		ss.rt.otherFamilies.Add(uint64(u.OtherFamilies))
	}
	return ap, nil
}

// internAttrs interns the decoded UPDATE's attribute set once for all its
// announced NLRI and returns its reference, the decoded attributes (when
// the set is new, or events want them) and the NLRI still announced.
// Announcements without attributes, or with attributes that do not decode,
// are moved to ss.upd.Withdrawn (RFC 7606 treat-as-withdraw).
func (ss *session) internAttrs(h *wire.PeerHeader, emit bool) (attrRef, *wire.Attrs, []wire.NLRI) {
	u := &ss.upd
	announced := u.Announced
	if len(announced) == 0 {
		return 0, nil, announced
	}
	if len(u.Attrs) == 0 {
		ss.rt.malformed.Add(1)
		u.Withdrawn = append(u.Withdrawn, announced...)
		return 0, nil, nil
	}
	ref, created := ss.st.intern.acquire(u.Attrs, int32(len(announced)))
	if !created && !emit {
		return ref, nil, announced
	}
	a, err := wire.DecodeAttrs(u.Attrs)
	if err != nil {
		ss.rt.malformed.Add(1)
		ss.st.log.Debug("bmp: malformed attributes, treating as withdraw", "router", ss.rt.addr, "peer", h.Address, "err", err)
		// acquire counted one reference per NLRI: give each back.
		for range announced {
			ss.rel = append(ss.rel, ref)
		}
		u.Withdrawn = append(u.Withdrawn, announced...)
		return 0, nil, nil
	}
	return ref, a, announced
}

// applyUpdate applies the withdrawals and announcements of ss.upd to the
// peer's table under the router lock, keeping the route counts and caps,
// releases the attribute references it replaced, and emits the events.
func (ss *session) applyUpdate(h *wire.PeerHeader, p *peer, tbl wire.Table, ap wire.AddPath, ref attrRef, attrs *wire.Attrs, announced []wire.NLRI, emit bool, arrival time.Time) error {
	u := &ss.upd
	ss.rt.mu.Lock()
	if ss.lastGen != ss.rt.peerGen.Load() {
		// Expire removed down peers since p was looked up: routes must not
		// go to a peer no longer in the map, where nothing would free them.
		ss.last = nil
		if p = ss.peer(h); p == nil {
			ss.rt.mu.Unlock()
			for range announced {
				ss.rel = append(ss.rel, ref)
			}
			if len(ss.rel) > 0 {
				ss.releaseAll()
			}
			return nil
		}
	}
	p.seen[tbl] = true
	t := p.tables[tbl]
	if t == nil {
		t = newRIBTable()
		p.tables[tbl] = t
	}
	p.addPath[tbl] = ap
	if u.EndOfRIB {
		if t.eor == nil {
			t.eor = make(map[wire.Family]bool)
		}
		t.eor[u.EndOfRIBFamily] = true
	}
	var ev Event
	if emit {
		ev = *ss.peerEvent(0, h, p, arrival, nil)
	}
	for _, n := range u.Withdrawn {
		old := t.remove(n)
		if old == 0 {
			continue
		}
		p.routes--
		ss.rt.routes--
		ss.rel = append(ss.rel, old)
		if emit {
			ev.Kind, ev.Prefix, ev.PathID, ev.Attrs = RouteWithdrawn, n.Prefix, n.PathID, nil
			ss.st.hub.emit(&ev)
		}
	}
	lim := &ss.st.lim
	for _, n := range announced {
		// The caps cost two comparisons per route: a new route is stored
		// only while the peer and the router are below theirs.
		room := p.routes < lim.MaxRoutesPerPeer && ss.rt.routes < lim.MaxRoutesPerRouter
		old, stored := t.set(n, ref, room)
		if !stored {
			ss.dropped++
			ss.rel = append(ss.rel, ref)
			continue
		}
		kind := RouteAnnounced
		if old == 0 {
			p.routes++
			ss.rt.routes++
		} else {
			ss.rel = append(ss.rel, old)
			if old == ref {
				continue
			}
			kind = RouteChanged
		}
		if emit {
			ev.Kind, ev.Prefix, ev.PathID, ev.Attrs = kind, n.Prefix, n.PathID, attrs
			ss.st.hub.emit(&ev)
		}
	}
	ss.rt.mu.Unlock()
	if len(ss.rel) > 0 {
		ss.releaseAll()
	}
	if ss.dropped > 0 {
		ss.capped(p, tbl)
	}
	if u.EndOfRIB && emit {
		ev.Kind, ev.Family, ev.Prefix, ev.Attrs = EndOfRIB, u.EndOfRIBFamily, netip.Prefix{}, nil
		ss.st.hub.emit(&ev)
	}
	return nil
}

// capped records the announcements of the last message dropped at a route
// cap: counted per route, logged and a finding per router.
func (ss *session) capped(p *peer, tbl wire.Table) {
	n := ss.dropped
	ss.dropped = 0
	lim := &ss.st.lim
	which, detail := limitRoutesPerPeer, fmt.Sprintf("peer %s holds %d routes (limits.max_routes_per_peer %d); further announcements dropped, table %s incomplete", p.key.addr, p.routes, lim.MaxRoutesPerPeer, tbl)
	if p.routes < lim.MaxRoutesPerPeer {
		which, detail = limitRoutesRouter, fmt.Sprintf("router holds %d routes (limits.max_routes_per_router %d); further announcements dropped", ss.rt.routes, lim.MaxRoutesPerRouter)
	}
	p.capped = true
	ss.st.limit(which, ss.rt.addr, detail, uint64(n))
}
