// Package session turns BGP session state (from BMP or from the node's own
// speaker) and Peer Down events into findings: sessions down with their
// reason and advice, sessions going down repeatedly, and expected sessions
// that are not there at all.
package session

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
	"github.com/anydiag/anydiag/internal/finding"
	"go.yaml.in/yaml/v3"
)

// Peer is one session as the BMP API's /api/v1/bmp/peers lists it, or as a
// speaker reports its neighbor (State then is the FSM state, e.g. "active").
type Peer struct {
	Router         string    `json:"router"`
	PeerAddress    string    `json:"peer_address"`
	PeerAS         uint32    `json:"peer_as"`
	PeerBGPID      string    `json:"peer_bgp_id"`
	State          string    `json:"state"`
	Table          string    `json:"table"`
	Routes         int       `json:"routes"`
	UpSince        time.Time `json:"up_since"`
	LastDownReason string    `json:"last_down_reason"`
}

// up reports whether the state is an established session.
func (p Peer) up() bool {
	s := strings.ToLower(p.State)
	return s == "up" || s == "established"
}

// Down is one session going down.
type Down struct {
	Time         time.Time               `json:"time"`
	Router       string                  `json:"router"`
	PeerAddress  string                  `json:"peer_address"`
	PeerAS       uint32                  `json:"peer_as"`
	Reason       bgpnames.PeerDownReason `json:"reason"`
	Notification *bgpnames.Notification  `json:"notification,omitempty"`
}

// Expected is a session the configuration says must exist.
type Expected struct {
	// Router is the BMP router address; empty matches any router.
	Router      string     `yaml:"router"`
	PeerAddress netip.Addr `yaml:"peer_address"`
	// PeerAS, when not 0, must match too.
	PeerAS      uint32 `yaml:"peer_as"`
	Description string `yaml:"description"`
}

// Config is the session analyzer's part of a configuration file.
type Config struct {
	ExpectedSessions []Expected `yaml:"expected_sessions"`
	// UnstableDowns downs of one session within UnstableWindow make it unstable.
	UnstableDowns  int           `yaml:"unstable_downs"`
	UnstableWindow time.Duration `yaml:"unstable_window"`
}

// Defaults for Config's zero fields.
const (
	DefaultUnstableDowns  = 3
	DefaultUnstableWindow = time.Hour
)

func (c Config) withDefaults() Config {
	if c.UnstableDowns == 0 {
		c.UnstableDowns = DefaultUnstableDowns
	}
	if c.UnstableWindow == 0 {
		c.UnstableWindow = DefaultUnstableWindow
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.UnstableDowns < 0 || c.UnstableWindow < 0 {
		return fmt.Errorf("session: unstable_downs and unstable_window must not be negative")
	}
	for i, e := range c.ExpectedSessions {
		if !e.PeerAddress.IsValid() {
			return fmt.Errorf("session: expected_sessions[%d]: peer_address is required", i)
		}
	}
	return nil
}

// ParseConfig decodes a Config from YAML, rejecting unknown keys.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("session config: %w", err)
	}
	return c, c.Validate()
}

type sessionKey struct {
	router string
	peer   netip.Addr
}

func keyOf(router, peer string) sessionKey {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return sessionKey{router: router}
	}
	return sessionKey{router, a.Unmap()}
}

// Analyze returns the findings for the sessions in peers (one row per BMP
// table is folded into one session) and the downs seen, at now.
func Analyze(c Config, now time.Time, peers []Peer, downs []Down) []finding.Finding {
	c = c.withDefaults()
	type sess struct {
		peer Peer
		up   bool
	}
	sessions := map[sessionKey]*sess{}
	var order []sessionKey
	for _, p := range peers {
		k := keyOf(p.Router, p.PeerAddress)
		s, ok := sessions[k]
		if !ok {
			s = &sess{peer: p}
			sessions[k] = s
			order = append(order, k)
		}
		// A session is up when any table's row says so: rows of one session
		// disagree only while the station catches up.
		s.up = s.up || p.up()
	}
	byKey := map[sessionKey][]Down{}
	for _, d := range downs {
		k := keyOf(d.Router, d.PeerAddress)
		byKey[k] = append(byKey[k], d)
	}
	for _, ds := range byKey {
		sort.Slice(ds, func(i, j int) bool { return ds[i].Time.Before(ds[j].Time) })
	}

	var fs []finding.Finding
	for _, k := range order {
		s := sessions[k]
		ds := byKey[k]
		if !s.up {
			var last *Down
			if len(ds) > 0 {
				last = &ds[len(ds)-1]
			}
			fs = append(fs, downFinding(s.peer, last, now))
		}
		var recent []Down
		for _, d := range ds {
			if !d.Time.Before(now.Add(-c.UnstableWindow)) && !d.Time.After(now) {
				recent = append(recent, d)
			}
		}
		if len(recent) >= c.UnstableDowns {
			fs = append(fs, unstableFinding(s.peer, recent, c.UnstableWindow))
		}
	}
	for _, e := range c.ExpectedSessions {
		if !matchesAny(e, peers) {
			subject := fmt.Sprintf("peer %s", e.PeerAddress)
			if e.Router != "" {
				subject += " at " + e.Router
			}
			fs = append(fs, finding.New("bgp.session_missing", subject,
				fmt.Sprintf("expected session with %s (AS%d) %s is not seen", e.PeerAddress, e.PeerAS, e.Description),
				map[string]any{"router": e.Router, "peer_address": e.PeerAddress.String(), "peer_as": e.PeerAS},
				now))
		}
	}
	return fs
}

func matchesAny(e Expected, peers []Peer) bool {
	for _, p := range peers {
		a, err := netip.ParseAddr(p.PeerAddress)
		if err != nil || a.Unmap() != e.PeerAddress.Unmap() {
			continue
		}
		if (e.Router == "" || e.Router == p.Router) && (e.PeerAS == 0 || e.PeerAS == p.PeerAS) {
			return true
		}
	}
	return false
}

func subjectOf(router, peer string) string {
	if router == "" {
		return "peer " + peer
	}
	return fmt.Sprintf("peer %s at %s", peer, router)
}

// downFinding explains a session that is down, from its last Peer Down when
// there is one, else from the state and the station's last_down_reason.
func downFinding(p Peer, last *Down, now time.Time) finding.Finding {
	subject := subjectOf(p.Router, p.PeerAddress)
	ev := map[string]any{
		"router": p.Router, "peer_address": p.PeerAddress, "peer_as": p.PeerAS, "state": p.State,
	}
	since := now
	if last == nil {
		if p.LastDownReason != "" {
			ev["last_down_reason"] = p.LastDownReason
		}
		f := finding.New("bgp.session_down", subject,
			fmt.Sprintf("session with AS%d is %s %s", p.PeerAS, p.State, p.LastDownReason), ev, since)
		return withAdvice(f, stateAdvice(p.State))
	}
	since = last.Time
	ev["reason"] = last.Reason.String()
	ev["down_at"] = last.Time
	n := last.Notification
	if n == nil || last.Reason == bgpnames.PeerDownLocalNoNotification || last.Reason == bgpnames.PeerDownRemoteNoNotification || last.Reason == bgpnames.PeerDownDeconfigured {
		f := finding.New("bgp.session_down", subject,
			fmt.Sprintf("session with AS%d went down: %s", p.PeerAS, last.Reason), ev, since)
		switch last.Reason {
		case bgpnames.PeerDownDeconfigured:
			return withAdvice(f, "The router no longer has this neighbor configured: intended if the peering was removed.").WithSeverity(finding.Info)
		case bgpnames.PeerDownRemoteNoNotification:
			return withAdvice(f, "The TCP connection dropped without NOTIFICATION: a link failure, the peer's BGP process restarting, or a peering mismatch (address, AS, TCP-MD5, TTL security) that keeps the session in Idle/Active.")
		case bgpnames.PeerDownLocalNoNotification:
			return withAdvice(f, "The router closed the session without NOTIFICATION: an administrative shutdown on the router (FRR reports shutdown this way) or a local FSM event such as a connect failure.")
		}
		return withAdvice(f, stateAdvice(p.State))
	}
	ev["notification"] = n.String()
	ev["notification_code"] = n.Code
	ev["notification_subcode"] = n.Subcode
	by := "the router"
	if last.Reason == bgpnames.PeerDownRemoteNotification {
		by = "the peer"
	}
	ev["sent_by"] = by
	summary := fmt.Sprintf("session with AS%d went down: %s sent %s", p.PeerAS, by, n)
	if msg := n.ShutdownMessage(); msg != "" {
		ev["shutdown_message"] = msg
		summary += fmt.Sprintf(": %q", msg)
	}
	code := "bgp.notification"
	switch n.Code {
	case bgpnames.CodeHoldTimer:
		code = "bgp.hold_timer_expired"
	case bgpnames.CodeCease:
		code = "bgp.cease"
	}
	f := finding.New(code, subject, summary, ev, since)
	if n.Code == bgpnames.CodeCease && n.Subcode != 2 && n.Subcode != 3 && n.Subcode != 4 && n.Subcode != 7 {
		// Only a human or automation closing the session is expected; the rest
		// (maximum prefixes, rejection, resources, BFD) needs action now.
		f = f.WithSeverity(finding.Critical)
	}
	return withAdvice(f, advice(*n))
}

func stateAdvice(state string) string {
	switch strings.ToLower(state) {
	case "idle", "active", "connect":
		return "Idle/Active/Connect: the TCP session does not come up: a peering mismatch (neighbor address, remote AS, TCP-MD5 password, TTL security) or a link failure; check reachability of the peer address and both configurations."
	case "opensent", "openconfirm":
		return "Stuck in OpenSent/OpenConfirm: the OPEN is not accepted: compare AS numbers, router IDs, hold times and capabilities."
	}
	return ""
}

// withAdvice puts the specific advice in front of the catalogue's general one.
func withAdvice(f finding.Finding, specific string) finding.Finding {
	if specific != "" {
		f.Advice = specific + " " + f.Advice
	}
	return f
}

func unstableFinding(p Peer, recent []Down, window time.Duration) finding.Finding {
	reasons := map[string]int{}
	var times []time.Time
	for _, d := range recent {
		r := d.Reason.String()
		if d.Notification != nil {
			r = d.Notification.String()
		}
		reasons[r]++
		times = append(times, d.Time)
	}
	return finding.New("bgp.session_unstable", subjectOf(p.Router, p.PeerAddress),
		fmt.Sprintf("session with AS%d went down %d times in the last %s", p.PeerAS, len(recent), window),
		map[string]any{"router": p.Router, "peer_address": p.PeerAddress, "peer_as": p.PeerAS,
			"downs": len(recent), "window_seconds": window.Seconds(), "reasons": reasons, "down_times": times},
		recent[0].Time)
}

// History keeps the downs of the last window per session, for an agent that
// sees them one by one. It is safe for concurrent use.
type History struct {
	window time.Duration
	mu     sync.Mutex
	downs  []Down
}

// NewHistory keeps downs for window (DefaultUnstableWindow when 0).
func NewHistory(window time.Duration) *History {
	if window <= 0 {
		window = DefaultUnstableWindow
	}
	return &History{window: window}
}

// Add records a down and forgets those older than the window before d.
func (h *History) Add(d Down) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.downs = append(h.downs, d)
	h.pruneLocked(d.Time)
}

// Downs returns the downs within the window before now.
func (h *History) Downs(now time.Time) []Down {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked(now)
	return append([]Down(nil), h.downs...)
}

func (h *History) pruneLocked(now time.Time) {
	cut := now.Add(-h.window)
	kept := h.downs[:0]
	for _, d := range h.downs {
		if !d.Time.Before(cut) {
			kept = append(kept, d)
		}
	}
	h.downs = kept
}
