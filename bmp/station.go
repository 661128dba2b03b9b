// Package bmp is a BMP station (RFC 7854, RFC 8671 Adj-RIB-Out, RFC 9069
// Loc-RIB): routers connect to it (or it dials routers that listen), and it
// keeps every router's, peer's and table's current routes, serves them over
// HTTP, exports metrics, and streams typed events to analyzers.
//
// A Station is built by New and runs under Run (listen and dial as
// configured) or Serve (an existing listener). Each router session is read
// by one goroutine that decodes and applies messages directly: nothing
// queues between the socket and the RIB, and event delivery never blocks it.
package bmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/bmp/wire"
)

// Config configures a Station. The zero value is usable with Serve.
type Config struct {
	// Listen is the TCP address routers connect to ("0.0.0.0:11019");
	// empty for none.
	Listen string
	// Dial lists routers configured to listen for a station (FRR's
	// `bmp listener`), as host:port; the station dials them and redials
	// with exponential backoff.
	Dial []string
	// DialBackoffMin and DialBackoffMax bound the redial delay (defaults
	// 1 s and 60 s).
	DialBackoffMin, DialBackoffMax time.Duration
	// MaxMessageLen bounds a BMP message (default wire.MaxMessageLen).
	MaxMessageLen int
	// Clock gives arrival times (default time.Now).
	Clock func() time.Time
	// Logger receives session logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, gets the station's metrics written into it.
	Metrics *metrics.Set
	// Limits bound what routers can make the station hold (zero fields:
	// DefaultLimits).
	Limits Limits
}

// Station is a BMP station. Its methods are safe for concurrent use.
type Station struct {
	cfg    Config
	clock  func() time.Time
	log    *slog.Logger
	intern *internTable
	hub    hub

	lim  Limits
	hits limitHits

	mu      sync.RWMutex
	routers map[string]*router
	// conns counts the open connections per source address.
	conns map[netip.Addr]int

	expiredRouters, expiredPeers atomic.Uint64
	// apiSlow counts API answers cut off because the client stopped reading.
	apiSlow atomic.Uint64
	// apiSlots holds a token per /routes or /peers answer being built;
	// apiBusy counts the requests turned away with 503 for lack of one.
	apiSlots chan struct{}
	apiBusy  atomic.Uint64

	closedMu sync.Mutex
	closed   map[string]uint64

	wg sync.WaitGroup
}

// New builds a station; it starts nothing.
func New(cfg Config) (*Station, error) {
	if cfg.DialBackoffMin <= 0 {
		cfg.DialBackoffMin = time.Second
	}
	if cfg.DialBackoffMax < cfg.DialBackoffMin {
		cfg.DialBackoffMax = 60 * time.Second
	}
	if cfg.MaxMessageLen <= 0 {
		cfg.MaxMessageLen = wire.MaxMessageLen
	}
	if cfg.MaxMessageLen < wire.CommonHeaderLen+wire.PeerHeaderLen {
		return nil, fmt.Errorf("bmp: max message length %d is below the %d bytes of the headers", cfg.MaxMessageLen, wire.CommonHeaderLen+wire.PeerHeaderLen)
	}
	for _, d := range cfg.Dial {
		if _, _, err := net.SplitHostPort(d); err != nil {
			return nil, fmt.Errorf("bmp: dial address %q: %w", d, err)
		}
	}
	s := &Station{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		intern:  newInternTable(),
		routers: make(map[string]*router),
		conns:   make(map[netip.Addr]int),
		closed:  make(map[string]uint64),
		lim:     cfg.Limits.withDefaults(),
	}
	s.apiSlots = make(chan struct{}, s.lim.APIMaxConcurrent)
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Metrics != nil {
		cfg.Metrics.RegisterMetricsWriter(s.WriteMetrics)
	}
	return s, nil
}

// Subscribe returns a channel of events with room for buffer events, and a
// function that ends the subscription and closes the channel. A subscriber
// that falls behind loses events (counted in
// anydiag_bmp_events_dropped_total): readers of routers never wait for it.
func (s *Station) Subscribe(buffer int) (<-chan Event, func()) { return s.hub.subscribe(buffer) }

// EventsDropped is the number of events subscribers had no room for.
func (s *Station) EventsDropped() uint64 { return s.hub.dropped.Load() }

// Run listens on Config.Listen and dials Config.Dial until ctx is done, then
// closes every session and returns once all goroutines have ended.
func (s *Station) Run(ctx context.Context) error {
	if s.cfg.Listen == "" && len(s.cfg.Dial) == 0 {
		return errors.New("bmp: nothing to do: no listen address and no router to dial")
	}
	var ln net.Listener
	if s.cfg.Listen != "" {
		var err error
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.Listen); err != nil {
			return fmt.Errorf("bmp: listen: %w", err)
		}
	}
	for _, addr := range s.cfg.Dial {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.dialLoop(ctx, addr)
		}()
	}
	var err error
	if ln != nil {
		err = s.Serve(ctx, ln)
	} else {
		s.janitor(ctx)
	}
	s.wg.Wait()
	return err
}

// Serve accepts router sessions on ln until ctx is done, then closes ln and
// the sessions and waits for them.
func (s *Station) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("bmp station listening", "addr", ln.Addr().String())
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.janitor(ctx)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("bmp: accept: %w", err)
		}
		src := remoteAddr(c)
		if !s.admit(src) {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.leave(src)
			s.serveConn(ctx, c)
		}()
	}
}

// janitor expires disconnected routers and down peers until ctx is done.
func (s *Station) janitor(ctx context.Context) {
	every := min(s.lim.RouterTTL.D(), s.lim.PeerTTL.D()) / 4
	every = min(max(every, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Expire()
		}
	}
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit applies the allow-list and the per-source connection cap to a new
// connection; leave undoes its count when it ends.
func (s *Station) admit(src netip.Addr) bool {
	if src.IsValid() && !s.lim.allowed(src) {
		s.limit(limitNotAllowed, src.String(), "connection from an address outside limits.allow_routers closed", 1)
		return false
	}
	s.mu.Lock()
	n := s.conns[src]
	if n >= s.lim.MaxConnectionsPerSource {
		s.mu.Unlock()
		s.limit(limitConnsPerSource, src.String(), fmt.Sprintf("connection closed: %d sessions from this address are open", n), 1)
		return false
	}
	s.conns[src] = n + 1
	s.mu.Unlock()
	return true
}

func (s *Station) leave(src netip.Addr) {
	s.mu.Lock()
	if s.conns[src] <= 1 {
		delete(s.conns, src)
	} else {
		s.conns[src]--
	}
	s.mu.Unlock()
}

func (s *Station) dialLoop(ctx context.Context, addr string) {
	backoff := s.cfg.DialBackoffMin
	var d net.Dialer
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			backoff = s.cfg.DialBackoffMin
			s.serveConn(ctx, c)
		} else {
			s.log.Warn("bmp: dial router", "addr", addr, "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.DialBackoffMax)
	}
}

func (s *Station) serveConn(ctx context.Context, c net.Conn) {
	addr := c.RemoteAddr().String()
	if a := remoteAddr(c); a.IsValid() {
		addr = a.String()
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	if err := s.Ingest(ctx, addr, c, c); err != nil && ctx.Err() == nil {
		s.log.Debug("bmp session ended", "router", addr, "err", err)
	}
}

// errTerminated ends a session on a Termination message.
var errTerminated = errors.New("router sent a Termination message")

// sessionError marks an error as closing the session for reason (a metrics
// label).
type sessionError struct {
	reason string
	err    error
}

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// Ingest runs one router session over r until it ends: the router is named
// routerAddr in the API and events. closer, when not nil, is closed if a new
// session from the same router replaces this one. It returns why the session
// ended (nil on a clean end of stream or a Termination). Serve calls it per
// connection; tests and replays call it on any stream.
func (s *Station) Ingest(ctx context.Context, routerAddr string, r io.Reader, closer io.Closer) error {
	rt := newRouter(routerAddr, s.clock(), closer)
	sess := &session{st: s, rt: rt, rd: wire.NewReader(r, s.cfg.MaxMessageLen)}
	if d, ok := r.(deadliner); ok {
		sess.deadline = d
	}
	s.mu.Lock()
	old := s.routers[routerAddr]
	switch {
	case old != nil && old.connected.Load():
		// A second session from a live router's address replaces the first
		// only once it has sent its Initiation: until then the old session
		// and its routes stay, so a stray connection flushes nothing.
		sess.pending = true
	case old == nil && len(s.routers) >= s.lim.MaxRouters && !s.evictOldestLocked():
		s.mu.Unlock()
		s.limit(limitRouters, routerAddr, fmt.Sprintf("session refused: %d routers are connected (limits.max_routers)", s.lim.MaxRouters), 1)
		s.countClosed(limitRouters)
		return fmt.Errorf("bmp: router %s refused: the station holds its maximum of %d routers", routerAddr, s.lim.MaxRouters)
	default:
		s.routers[routerAddr] = rt
	}
	s.mu.Unlock()
	if !sess.pending {
		s.log.Info("bmp router connected", "router", routerAddr)
		s.hub.emit(&Event{Kind: RouterConnected, Router: routerAddr, Arrival: rt.since})
	}

	err := sess.run(ctx)

	reason, logErr := "eof", err
	var fe *wire.FrameError
	var se *sessionError
	switch {
	case rt.replaced.Load():
		reason = "replaced"
	case ctx.Err() != nil:
		reason, logErr = "shutdown", nil
	case errors.Is(err, errTerminated):
		reason, logErr = "termination", nil
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason = limitIdle
		detail := fmt.Sprintf("session closed: a message (or the first one) took longer than limits.idle_timeout %s to arrive", sess.idle())
		if d := sess.silence(); d > 0 {
			detail += fmt.Sprintf(", or the router was silent for %s (statistics_intervals × its statistics interval)", d)
		}
		s.limit(limitIdle, routerAddr, detail, 1)
	case errors.As(err, &se):
		reason = se.reason
	case errors.As(err, &fe):
		reason = fe.Reason
	default:
		reason = "read_error"
	}
	s.countClosed(reason)
	why := reason
	if err != nil {
		why = reason + ": " + err.Error()
	}
	if logErr != nil {
		s.log.Warn("bmp router session closed", "router", routerAddr, "reason", reason, "err", logErr, "offset", sess.rd.Offset())
	} else {
		s.log.Info("bmp router session closed", "router", routerAddr, "reason", reason)
	}
	if sess.pending {
		// It never took over: nothing of it is visible.
		return err
	}
	sess.flushRouter("BMP session closed: " + why)
	s.hub.emit(&Event{Kind: RouterGone, Router: routerAddr, Reason: why, Arrival: s.clock()})
	if errors.Is(err, errTerminated) {
		return nil
	}
	return err
}

// deadliner is the part of net.Conn the read deadline needs.
type deadliner interface{ SetReadDeadline(time.Time) error }

// takeOver makes a pending session's router the current one, closing the
// session it replaces.
func (s *Station) takeOver(rt *router) {
	s.mu.Lock()
	if old := s.routers[rt.addr]; old != nil && old != rt && old.connected.Load() {
		s.log.Warn("bmp: router reconnected and sent its Initiation; closing its previous session", "router", rt.addr)
		old.replaced.Store(true)
		if old.closer != nil {
			old.closer.Close()
		}
	}
	s.routers[rt.addr] = rt
	s.mu.Unlock()
	s.log.Info("bmp router connected", "router", rt.addr)
	s.hub.emit(&Event{Kind: RouterConnected, Router: rt.addr, Arrival: rt.since})
}

func (s *Station) countClosed(reason string) {
	s.closedMu.Lock()
	s.closed[reason]++
	s.closedMu.Unlock()
}

// router is one BMP session's state. The session goroutine writes it under
// mu; readers (API, metrics) take mu for reading.
type router struct {
	addr      string
	since     time.Time
	closer    io.Closer
	connected atomic.Bool
	replaced  atomic.Bool
	// goneAt is when the session ended (Unix ns; 0 while connected), for
	// expiry.
	goneAt atomic.Int64
	// peerGen changes when Expire removes peers, so that a session drops
	// its cached peer.
	peerGen atomic.Uint64

	msgs           [wire.NumMsgTypes + 1]atomic.Uint64
	addPathMissing atomic.Uint64
	addPathExtra   atomic.Uint64
	malformed      atomic.Uint64
	otherFamilies  atomic.Uint64
	mirrored       atomic.Uint64

	mu       sync.RWMutex
	sysName  string
	sysDescr string
	info     *wire.Initiation
	peers    map[peerKey]*peer
	// routes is the number of routes of all peers, for the router cap.
	routes int
}

func newRouter(addr string, now time.Time, closer io.Closer) *router {
	r := &router{addr: addr, since: now, closer: closer, peers: make(map[peerKey]*peer)}
	r.connected.Store(true)
	return r
}

func (r *router) messages() uint64 {
	var n uint64
	for i := range r.msgs {
		n += r.msgs[i].Load()
	}
	return n
}

// peerKey identifies a monitored peer within a router: RFC 7854 tells peers
// apart by type, distinguisher and address (Loc-RIB instances by
// distinguisher).
type peerKey struct {
	typ  wire.PeerType
	dist uint64
	addr netip.Addr
}

// peer is one monitored peer and its tables.
type peer struct {
	key      peerKey
	as       uint32
	bgpID    netip.Addr
	up       bool
	upSince  time.Time
	downAt   time.Time
	lastDown string
	peerUp   *wire.PeerUp
	tables   [wire.NumTables]*ribTable
	// seen marks tables that ever carried a message, so that a down peer
	// still lists them.
	seen [wire.NumTables]bool
	// addPath is the ADD-PATH setting the next UPDATE of each table is
	// parsed with: what the Peer Up implies, corrected by what the sender
	// was found to do.
	addPath [wire.NumTables]wire.AddPath
	stats   map[statKey]wire.Stat
	// routes is the number of routes in all tables, for the peer cap;
	// capped is set once an announcement was dropped at a cap.
	routes int
	capped bool
	// statsAt is the arrival of the last Statistics Report, to learn the
	// router's statistics interval.
	statsAt time.Time
}

type statKey struct {
	typ    uint16
	family wire.Family
}

// expectedAddPath is what RFC 7911 says the peer's messages in table t carry.
func (p *peer) expectedAddPath(t wire.Table) wire.AddPath {
	if p.peerUp == nil {
		return wire.AddPath{}
	}
	f := p.peerUp.AddPathRx
	if t == wire.AdjRIBOutPre || t == wire.AdjRIBOutPost {
		f = p.peerUp.AddPathTx
	}
	return wire.AddPath{IPv4: f(wire.IPv4Unicast), IPv6: f(wire.IPv6Unicast)}
}

// sortedPeers returns the router's peers in a stable order. r.mu must be held.
func (r *router) sortedPeers() []*peer {
	ps := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i].key, ps[j].key
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		return a.addr.Less(b.addr)
	})
	return ps
}
