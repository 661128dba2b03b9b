package bmp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anydiag/anydiag/bmp/wire"
)

// Pagination of /routes and /peers. Rows come in a fixed order (router
// address, peer type, distinguisher, peer address, table, then IPv4 before
// IPv6 by address, length and path ID). An answer holds at most ?limit=
// rows (default Limits.APIPageSize); when more follow, the X-Next-Cursor
// header carries an opaque cursor (and Link: <...>; rel="next" the URL) to
// pass as ?cursor= for the rows after the last one. The body stays the JSON
// array of DESIGN.md. Pages are not one snapshot: routes that change
// between two requests may be missed or seen twice, as with any paging of a
// live table.

// NextCursorHeader names the response header with the next page's cursor.
const NextCursorHeader = "X-Next-Cursor"

// cursor is the position of the last row of a page.
type cursor struct {
	Router string     `json:"r"`
	Type   uint8      `json:"t,omitempty"`
	Dist   uint64     `json:"d,omitempty"`
	Peer   netip.Addr `json:"a"`
	Table  uint8      `json:"b,omitempty"`
	Route  *routePos  `json:"k,omitempty"`
}

func (c *cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 512 {
		return nil, fmt.Errorf("cursor %q is not one this station gave out (pass the %s header of the previous answer unchanged)", s, NextCursorHeader)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Table >= uint8(wire.NumTables) {
		return nil, fmt.Errorf("cursor %q is not one this station gave out (pass the %s header of the previous answer unchanged)", s, NextCursorHeader)
	}
	return &c, nil
}

// cmpPeerPos orders (router, peer, table) as the pages list them.
func cmpPeerPos(router string, k peerKey, t wire.Table, c *cursor) int {
	switch {
	case router != c.Router:
		return strings.Compare(router, c.Router)
	case k.typ != wire.PeerType(c.Type):
		return cmpInt(int(k.typ), int(c.Type))
	case k.dist != c.Dist:
		if k.dist < c.Dist {
			return -1
		}
		return 1
	case k.addr != c.Peer:
		return k.addr.Compare(c.Peer)
	}
	return cmpInt(int(t), int(c.Table))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// routeGroup is the (router, peer, table) of the page rows before end.
type routeGroup struct {
	router string
	key    peerKey
	as     uint32
	table  wire.Table
	end    int
}

// routesPage returns up to limit routes of q after c, and the cursor of
// the next page (nil when none follows). Each row is 40 bytes: its position
// and its attribute set, pinned (one reference taken) so that it outlives
// the router's lock; the caller unpins them with s.intern.release.
func (s *Station) routesPage(q RouteQuery, c *cursor, limit int) ([]routeGroup, []posRef, *cursor, error) {
	pf, err := q.peerFilter()
	if err != nil {
		return nil, nil, nil, err
	}
	tableFilter := wire.NumTables
	if q.Table != "" {
		t, ok := wire.ParseTable(q.Table)
		if !ok {
			return nil, nil, nil, fmt.Errorf("unknown table %q", q.Table)
		}
		tableFilter = t
	}
	need := limit + 1 // one more tells whether a next page exists
	var groups []routeGroup
	var rows []posRef
	for _, r := range s.routerList() {
		if c != nil && r.addr < c.Router {
			continue
		}
		r.mu.RLock()
		if !pf.matchRouter(r) {
			r.mu.RUnlock()
			continue
		}
		for _, p := range r.sortedPeers() {
			if !pf.matchPeer(p) {
				continue
			}
			for t := wire.Table(0); t < wire.NumTables && len(rows) < need; t++ {
				if (tableFilter != wire.NumTables && t != tableFilter) || p.tables[t] == nil {
					continue
				}
				var from *routePos
				if c != nil {
					switch cmpPeerPos(r.addr, p.key, t, c) {
					case -1:
						continue
					case 0:
						if c.Route == nil {
							continue
						}
						from = c.Route
					}
				}
				got := p.tables[t].smallestAfter(from, q.Prefix, need-len(rows))
				if len(got) == 0 {
					continue
				}
				// The table holds these references while r.mu is held.
				s.intern.pin(got)
				if rows == nil {
					rows = got
				} else {
					rows = append(rows, got...)
				}
				groups = append(groups, routeGroup{router: r.addr, key: p.key, as: p.as, table: t, end: len(rows)})
			}
			if len(rows) >= need {
				break
			}
		}
		r.mu.RUnlock()
		if len(rows) >= need {
			break
		}
	}
	var next *cursor
	if len(rows) > limit {
		s.intern.unpin(rows[limit:])
		rows = rows[:limit]
		i := 0
		for groups[i].end < limit {
			i++
		}
		groups = groups[:i+1]
		groups[i].end = limit
		g := groups[i]
		pos := rows[limit-1].pos
		next = &cursor{Router: g.router, Type: uint8(g.key.typ), Dist: g.key.dist, Peer: g.key.addr, Table: uint8(g.table), Route: &pos}
	}
	return groups, rows, next, nil
}

// peersPage returns up to limit rows of the peers list after c.
func (s *Station) peersPage(q RouteQuery, c *cursor, limit int) ([]PeerInfo, *cursor, error) {
	pf, err := q.peerFilter()
	if err != nil {
		return nil, nil, err
	}
	need := limit + 1
	var rows []PeerInfo
	var keys []cursor
	add := func(r *router, p *peer, t wire.Table, n int) {
		if c != nil && cmpPeerPos(r.addr, p.key, t, c) <= 0 {
			return
		}
		rows = append(rows, peerInfo(r, p, t, n))
		keys = append(keys, cursor{Router: r.addr, Type: uint8(p.key.typ), Dist: p.key.dist, Peer: p.key.addr, Table: uint8(t)})
	}
	for _, r := range s.routerList() {
		if c != nil && r.addr < c.Router {
			continue
		}
		r.mu.RLock()
		if pf.matchRouter(r) {
			for _, p := range r.sortedPeers() {
				if !pf.matchPeer(p) {
					continue
				}
				tables := 0
				for t := range p.seen {
					if p.seen[t] {
						tables++
						n := 0
						if p.tables[t] != nil {
							n = p.tables[t].len()
						}
						add(r, p, wire.Table(t), n)
					}
				}
				if tables == 0 {
					add(r, p, defaultTable(p), 0)
				}
				if len(rows) >= need {
					break
				}
			}
		}
		r.mu.RUnlock()
		if len(rows) >= need {
			break
		}
	}
	var next *cursor
	if len(rows) > limit {
		rows = rows[:limit]
		next = &keys[limit-1]
	}
	return rows, next, nil
}

// Handler serves the HTTP API of DESIGN.md under /api/v1/bmp/ and the
// station's metrics at /metrics.
func (s *Station) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/bmp/routers", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Routers()) })
	mux.HandleFunc("GET /api/v1/bmp/peers", s.servePeers)
	mux.HandleFunc("GET /api/v1/bmp/routes", s.serveRoutes)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.WriteMetrics(w)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, format string, a ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, a...)})
}

// parseQuery reads the filters and the page of a /routes or /peers request.
func (s *Station) parseQuery(req *http.Request, routes bool) (RouteQuery, *cursor, int, error) {
	var q RouteQuery
	v := req.URL.Query()
	if routes {
		if p := v.Get("prefix"); p != "" {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return q, nil, 0, fmt.Errorf("prefix %q: not a prefix such as 192.0.2.0/24 or 2001:db8::/32", p)
			}
			q.Prefix = pfx.Masked()
		}
		q.Table = v.Get("table")
		if q.Table != "" {
			if _, ok := wire.ParseTable(q.Table); !ok {
				return q, nil, 0, fmt.Errorf("table %q: want adj-rib-in-pre, adj-rib-in-post, adj-rib-out-pre, adj-rib-out-post or loc-rib", q.Table)
			}
		}
	}
	if p := v.Get("peer"); p != "" {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return q, nil, 0, fmt.Errorf("peer %q: not an IP address", p)
		}
		q.Peer = a
	}
	q.Router = v.Get("router")
	q.PeerType = v.Get("peer_type")
	q.Distinguisher = v.Get("distinguisher")
	if _, err := q.peerFilter(); err != nil {
		return q, nil, 0, err
	}
	limit := s.lim.APIPageSize
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > s.lim.APIMaxPageSize {
			return q, nil, 0, fmt.Errorf("limit %q: want 1 to %d rows (limits.api_max_page_size)", l, s.lim.APIMaxPageSize)
		}
		limit = n
	}
	c, err := decodeCursor(v.Get("cursor"))
	if err != nil {
		return q, nil, 0, err
	}
	if c != nil && routes != (c.Route != nil) {
		return q, nil, 0, fmt.Errorf("cursor is for the other list (/routes and /peers cursors differ)")
	}
	return q, c, limit, nil
}

// setNext announces the next page in the headers.
func setNext(w http.ResponseWriter, req *http.Request, next *cursor) {
	if next == nil {
		return
	}
	tok := next.encode()
	v := req.URL.Query()
	v.Set("cursor", tok)
	u := url.URL{Path: req.URL.Path, RawQuery: v.Encode()}
	w.Header().Set(NextCursorHeader, tok)
	w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
}

// chunkBytes is how much of an answer is written under one write deadline.
const chunkBytes = 64 << 10

// rowWriter streams a JSON array in chunks, each with its own write
// deadline: a client that stops reading is cut off after
// Limits.APIWriteTimeout instead of holding its page in memory for ever.
type rowWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
	enc     *json.Encoder
	n       int
	err     error
}

func newRowWriter(w http.ResponseWriter, timeout time.Duration) *rowWriter {
	rw := &rowWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
	rw.enc = json.NewEncoder(&rw.buf)
	rw.buf.WriteByte('[')
	return rw
}

func (rw *rowWriter) row(v any) {
	if rw.err != nil {
		return
	}
	if rw.n > 0 {
		rw.buf.WriteByte(',')
	}
	rw.n++
	if rw.err = rw.enc.Encode(v); rw.err == nil && rw.buf.Len() >= chunkBytes {
		rw.flush()
	}
}

func (rw *rowWriter) flush() {
	if rw.err != nil {
		return
	}
	// Not every ResponseWriter supports deadlines (tests' recorders): then
	// the server's own WriteTimeout still applies.
	_ = rw.rc.SetWriteDeadline(time.Now().Add(rw.timeout))
	if _, rw.err = rw.w.Write(rw.buf.Bytes()); rw.err == nil {
		_ = rw.rc.Flush()
	}
	rw.buf.Reset()
}

func (rw *rowWriter) close() error {
	if rw.err == nil {
		rw.buf.WriteString("]\n")
		rw.flush()
	}
	return rw.err
}

// acquire waits for an API slot, at most APIWriteTimeout; false (and a 503
// written) when none came.
func (s *Station) acquire(w http.ResponseWriter, req *http.Request) bool {
	t := time.NewTimer(s.lim.APIWriteTimeout.D())
	defer t.Stop()
	select {
	case s.apiSlots <- struct{}{}:
		return true
	case <-req.Context().Done():
	case <-t.C:
	}
	s.apiBusy.Add(1)
	w.Header().Set("Retry-After", "1")
	// Under this load the connection is not kept for another request.
	w.Header().Set("Connection", "close")
	httpError(w, http.StatusServiceUnavailable, "%d answers are being sent (limits.api_max_concurrent); retry", s.lim.APIMaxConcurrent)
	return false
}

func (s *Station) release() { <-s.apiSlots }

// serveRoutes streams one page of routes, row by row.
func (s *Station) serveRoutes(w http.ResponseWriter, req *http.Request) {
	q, c, limit, err := s.parseQuery(req, true)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.acquire(w, req) {
		return
	}
	defer s.release()
	groups, rows, next, err := s.routesPage(q, c, limit)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	defer s.intern.unpin(rows)
	w.Header().Set("Content-Type", "application/json")
	setNext(w, req, next)
	rw := newRowWriter(w, s.lim.APIWriteTimeout.D())
	// Attribute sets are decoded once per answer, through a bounded cache.
	decoded := map[attrRef]*wire.Attrs{}
	g := 0
	for i := 0; i < len(rows) && rw.err == nil; i++ {
		for groups[g].end <= i {
			g++
		}
		pr := &rows[i]
		a, ok := decoded[pr.ref]
		if !ok {
			if a, err = wire.DecodeAttrs([]byte(s.intern.get(pr.ref))); err != nil {
				// Stored sets were validated on arrival.
				s.log.Error("bmp api: stored attributes do not decode", "err", err)
				return
			}
			if len(decoded) >= 4096 {
				clear(decoded)
			}
			decoded[pr.ref] = a
		}
		gr := &groups[g]
		rw.row(routeInfo(gr.router, gr.key, gr.as, gr.table, pr.pos.nlri(), a))
	}
	if err := rw.close(); err != nil {
		s.apiSlow.Add(1)
		s.log.Debug("bmp api: routes: client did not take the answer", "remote", req.RemoteAddr, "err", err)
	}
}

// servePeers streams one page of the peers list.
func (s *Station) servePeers(w http.ResponseWriter, req *http.Request) {
	q, c, limit, err := s.parseQuery(req, false)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.acquire(w, req) {
		return
	}
	defer s.release()
	rows, next, err := s.peersPage(q, c, limit)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	setNext(w, req, next)
	rw := newRowWriter(w, s.lim.APIWriteTimeout.D())
	for i := 0; i < len(rows) && rw.err == nil; i++ {
		rw.row(&rows[i])
	}
	if err := rw.close(); err != nil {
		s.apiSlow.Add(1)
		s.log.Debug("bmp api: peers: client did not take the answer", "remote", req.RemoteAddr, "err", err)
	}
}
