package bmp

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Limits bound what routers (or anyone who can reach the BMP port) can make
// the station hold. A zero field takes its DefaultLimits value; a negative
// count disables that limit. README.md lists what happens at each.
type Limits struct {
	// MaxRouters caps the router entries kept, connected or not. A new
	// address at the cap first evicts the longest-disconnected router; when
	// every entry is connected, the connection is refused.
	MaxRouters int `yaml:"max_routers" json:"max_routers"`
	// MaxConnectionsPerSource caps the concurrent sessions from one source
	// address (2: a live session and the one that replaces it). Excess
	// connections are closed at once.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source" json:"max_connections_per_source"`
	// MaxPeersPerRouter caps the monitored peers of one router; messages
	// about further peers are dropped (the session stays).
	MaxPeersPerRouter int `yaml:"max_peers_per_router" json:"max_peers_per_router"`
	// MaxRoutesPerPeer and MaxRoutesPerRouter cap the routes (paths: each
	// ADD-PATH path ID counts) of one peer over all its tables, and of one
	// router; announcements of further routes are dropped, withdrawals and
	// changes of held routes still apply.
	MaxRoutesPerPeer   int `yaml:"max_routes_per_peer" json:"max_routes_per_peer"`
	MaxRoutesPerRouter int `yaml:"max_routes_per_router" json:"max_routes_per_router"`
	// IdleTimeout closes a session whose message has not arrived in full
	// within it once its first byte came (one that sends a byte a second),
	// or whose first message has not arrived within it (one that never
	// speaks). Between messages a router that sends no Statistics Reports
	// may stay silent: a stable router has nothing to say.
	IdleTimeout yamlconf.Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// StatisticsIntervals is the number of its statistics intervals a
	// router that sends Statistics Reports may stay silent (default 3; at
	// least IdleTimeout).
	StatisticsIntervals int `yaml:"statistics_intervals" json:"statistics_intervals"`
	// RouterTTL removes a disconnected router (its peers and their last
	// down reasons) that long after its session ended; PeerTTL removes a
	// peer that long after its Peer Down.
	RouterTTL yamlconf.Duration `yaml:"router_ttl" json:"router_ttl"`
	PeerTTL   yamlconf.Duration `yaml:"peer_ttl" json:"peer_ttl"`
	// AllowRouters, when not empty, are the only addresses (or prefixes)
	// routers may connect from; others are closed at once. Dialled routers
	// are always allowed.
	AllowRouters []AddrOrPrefix `yaml:"allow_routers" json:"allow_routers,omitempty"`

	// APIPageSize is the number of rows of one /routes or /peers answer
	// unless the client asks for fewer with ?limit=; APIMaxPageSize is the
	// most it may ask for.
	APIPageSize    int `yaml:"api_page_size" json:"api_page_size"`
	APIMaxPageSize int `yaml:"api_max_page_size" json:"api_max_page_size"`
	// APIWriteTimeout closes an API connection whose client has not taken
	// a chunk of rows (about 64 KiB) within it.
	APIWriteTimeout yamlconf.Duration `yaml:"api_write_timeout" json:"api_write_timeout"`
	// APIMaxConcurrent caps the /routes and /peers answers built at once,
	// which bounds the memory pages hold whatever the number of clients;
	// a request waits up to APIWriteTimeout for its turn, then gets 503.
	APIMaxConcurrent int `yaml:"api_max_concurrent" json:"api_max_concurrent"`
}

// AddrOrPrefix is an address (meaning its host route) or a prefix, as
// allow_routers lists them.
type AddrOrPrefix struct{ netip.Prefix }

// ParseAddrOrPrefix reads "192.0.2.1", "2001:db8::1" or "192.0.2.0/24".
func ParseAddrOrPrefix(s string) (AddrOrPrefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return AddrOrPrefix{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return AddrOrPrefix{}, fmt.Errorf("%q is neither an address nor a prefix (write it like 192.0.2.1, 192.0.2.0/24 or 2001:db8::/48)", s)
	}
	a = a.Unmap()
	return AddrOrPrefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// UnmarshalText reads what ParseAddrOrPrefix reads (YAML and JSON).
func (p *AddrOrPrefix) UnmarshalText(b []byte) error {
	v, err := ParseAddrOrPrefix(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes the prefix.
func (p AddrOrPrefix) MarshalText() ([]byte, error) { return []byte(p.Prefix.String()), nil }

// DefaultLimits are the limits of a station whose configuration sets none.
func DefaultLimits() Limits {
	return Limits{
		MaxRouters:              1024,
		MaxConnectionsPerSource: 2,
		MaxPeersPerRouter:       10_000,
		MaxRoutesPerPeer:        4_000_000,
		MaxRoutesPerRouter:      16_000_000,
		IdleTimeout:             yamlconf.Duration(5 * time.Minute),
		StatisticsIntervals:     3,
		RouterTTL:               yamlconf.Duration(time.Hour),
		PeerTTL:                 yamlconf.Duration(time.Hour),
		APIPageSize:             10_000,
		APIMaxPageSize:          100_000,
		APIWriteTimeout:         yamlconf.Duration(10 * time.Second),
		APIMaxConcurrent:        8,
	}
}

// withDefaults fills zero fields and turns negative counts into "no limit".
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = int(^uint(0) >> 1)
		}
	}
	fill(&l.MaxRouters, d.MaxRouters)
	fill(&l.MaxConnectionsPerSource, d.MaxConnectionsPerSource)
	fill(&l.MaxPeersPerRouter, d.MaxPeersPerRouter)
	fill(&l.MaxRoutesPerPeer, d.MaxRoutesPerPeer)
	fill(&l.MaxRoutesPerRouter, d.MaxRoutesPerRouter)
	fill(&l.StatisticsIntervals, d.StatisticsIntervals)
	fill(&l.APIMaxPageSize, d.APIMaxPageSize)
	fill(&l.APIMaxConcurrent, d.APIMaxConcurrent)
	if l.APIMaxConcurrent > 1<<16 {
		l.APIMaxConcurrent = 1 << 16
	}
	fill(&l.APIPageSize, d.APIPageSize)
	l.APIPageSize = min(l.APIPageSize, l.APIMaxPageSize)
	if l.APIWriteTimeout <= 0 {
		l.APIWriteTimeout = d.APIWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.RouterTTL <= 0 {
		l.RouterTTL = d.RouterTTL
	}
	if l.PeerTTL <= 0 {
		l.PeerTTL = d.PeerTTL
	}
	return l
}

// allowed reports whether a router may connect from a.
func (l Limits) allowed(a netip.Addr) bool {
	if len(l.AllowRouters) == 0 {
		return true
	}
	for _, p := range l.AllowRouters {
		if p.Prefix.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Limit names, the label of anydiag_bmp_limit_hits_total.
const (
	limitRouters        = "max_routers"
	limitConnsPerSource = "max_connections_per_source"
	limitPeers          = "max_peers_per_router"
	limitRoutesPerPeer  = "max_routes_per_peer"
	limitRoutesRouter   = "max_routes_per_router"
	limitNotAllowed     = "allow_routers"
	limitIdle           = "idle_timeout"
	limitNoInitiation   = "no_initiation"
)

var limitNames = []string{limitRouters, limitConnsPerSource, limitPeers, limitRoutesPerPeer, limitRoutesRouter, limitNotAllowed, limitIdle, limitNoInitiation}

// findingWindow is how long a limit hit stays a finding after the last one.
const findingWindow = 10 * time.Minute

// logEvery rate-limits the log lines of one (limit, subject): an attack must
// not turn into a log flood.
const logEvery = time.Minute

// maxHitSubjects bounds the per-subject memory of limit hits; subjects
// beyond it are folded into one, so a flood from many addresses costs
// nothing per address.
const maxHitSubjects = 1024

type hitKey struct{ limit, subject string }

type hitState struct {
	count     uint64
	first     time.Time
	last      time.Time
	lastLog   time.Time
	suppessed uint64
	detail    string
}

// limitHits counts and remembers limit hits for metrics, logs and findings.
// Route drops are counted per message, not per route, on the hot path's
// rare branch.
type limitHits struct {
	mu     sync.Mutex
	total  map[string]uint64
	recent map[hitKey]*hitState
}

// hit records n hits of limit for subject at now and returns whether the
// caller should log it (first hit, or logEvery since the last log) and how
// many hits went unlogged since.
func (h *limitHits) hit(limit, subject, detail string, n uint64, now time.Time) (logIt bool, unlogged uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == nil {
		h.total = make(map[string]uint64)
		h.recent = make(map[hitKey]*hitState)
	}
	h.total[limit] += n
	k := hitKey{limit, subject}
	st := h.recent[k]
	if st == nil {
		if len(h.recent) >= maxHitSubjects {
			h.pruneLocked(now)
		}
		if len(h.recent) >= maxHitSubjects {
			k.subject = "(many)"
			st = h.recent[k]
		}
		if st == nil {
			st = &hitState{first: now}
			h.recent[k] = st
		}
	}
	st.count += n
	st.last = now
	st.detail = detail
	if st.lastLog.IsZero() || now.Sub(st.lastLog) >= logEvery {
		st.lastLog = now
		unlogged, st.suppessed = st.suppessed, 0
		return true, unlogged
	}
	st.suppessed += n
	return false, 0
}

func (h *limitHits) pruneLocked(now time.Time) {
	for k, st := range h.recent {
		if now.Sub(st.last) > findingWindow {
			delete(h.recent, k)
		}
	}
}

func (h *limitHits) totals() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(limitNames))
	for _, n := range limitNames {
		out[n] = h.total[n]
	}
	return out
}

// limit records a hit: counted always, logged at most once a minute per
// (limit, subject), and a finding for findingWindow.
func (s *Station) limit(limit, subject, detail string, n uint64) {
	logIt, unlogged := s.hits.hit(limit, subject, detail, n, s.clock())
	if logIt {
		s.log.Warn("bmp: station limit reached", "limit", limit, "subject", subject, "detail", detail, "unlogged_since_last", unlogged)
	}
}

// Findings returns a bmp.limit_reached finding for every limit hit in the
// last 10 minutes, by limit and router (or source address).
func (s *Station) Findings() []finding.Finding {
	now := s.clock()
	s.hits.mu.Lock()
	defer s.hits.mu.Unlock()
	s.hits.pruneLocked(now)
	out := make([]finding.Finding, 0, len(s.hits.recent))
	for k, st := range s.hits.recent {
		f := finding.New("bmp.limit_reached", "bmp "+k.subject,
			fmt.Sprintf("BMP station limit %s reached for %s %d times since %s: %s", k.limit, k.subject, st.count, st.first.UTC().Format(time.RFC3339), st.detail),
			map[string]any{"limit": k.limit, "subject": k.subject, "hits": st.count, "last": st.last.UTC(), "detail": st.detail}, st.first)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject+out[i].Summary < out[j].Subject+out[j].Summary })
	return out
}

// Expire removes the routers disconnected for longer than RouterTTL and the
// peers down for longer than PeerTTL, as of the station's clock. The station
// calls it periodically while it serves; tests call it after moving the
// clock. It returns how many routers and peers it removed.
func (s *Station) Expire() (routers, peers int) {
	now := s.clock()
	s.mu.Lock()
	for addr, r := range s.routers {
		if g := r.goneAt.Load(); !r.connected.Load() && g != 0 && now.Sub(time.Unix(0, g)) >= s.lim.RouterTTL.D() {
			delete(s.routers, addr)
			routers++
		}
	}
	live := make([]*router, 0, len(s.routers))
	for _, r := range s.routers {
		live = append(live, r)
	}
	s.mu.Unlock()
	for _, r := range live {
		r.mu.Lock()
		n := 0
		for k, p := range r.peers {
			if !p.up && !p.downAt.IsZero() && now.Sub(p.downAt) >= s.lim.PeerTTL.D() {
				delete(r.peers, k)
				n++
			}
		}
		if n > 0 {
			r.peerGen.Add(1)
		}
		r.mu.Unlock()
		peers += n
	}
	if routers+peers > 0 {
		s.expiredRouters.Add(uint64(routers))
		s.expiredPeers.Add(uint64(peers))
		s.log.Info("bmp: expired disconnected routers and down peers", "routers", routers, "peers", peers)
	}
	return routers, peers
}

// evictOldestLocked removes the longest-disconnected router to make room for
// a new one; false when every router is connected. s.mu must be held.
func (s *Station) evictOldestLocked() bool {
	var oldest *router
	for _, r := range s.routers {
		if r.connected.Load() {
			continue
		}
		if oldest == nil || r.goneAt.Load() < oldest.goneAt.Load() {
			oldest = r
		}
	}
	if oldest == nil {
		return false
	}
	delete(s.routers, oldest.addr)
	s.expiredRouters.Add(1)
	return true
}
