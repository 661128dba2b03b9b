// Package frr drives FRR's bgpd through vtysh: a prefix is announced with a
// `network` statement in the configured BGP instance and withdrawn with
// `no network`, and each change is confirmed with
// `show bgp [vrf V] ipv4|ipv6 unicast PREFIX json` (the locally sourced path
// present or gone) and, for the listed neighbors, their advertised-routes.
package frr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anydiag/anydiag/speakers/internal/confirm"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

var _ speakers.Speaker = (*Speaker)(nil)

// ErrAttributesUnsupported is returned by Announce when asked for a
// degraded route: this speaker only adds and removes network statements.
// It wraps speakers.ErrUnsupported.
var ErrAttributesUnsupported = fmt.Errorf("frr speaker: MED, prepend and communities are not supported; degrade with a route-map in FRR's own configuration: %w", speakers.ErrUnsupported)

// Capabilities are what the FRR speaker can do: announce and withdraw
// only (see ErrAttributesUnsupported); FRR's own `bgp graceful-shutdown`
// covers draining.
func Capabilities() speakers.Capabilities { return speakers.Capabilities{} }

// Capabilities returns the package's Capabilities.
func (s *Speaker) Capabilities() speakers.Capabilities { return Capabilities() }

// DefaultTimeout bounds one call when ctx has no earlier deadline.
const DefaultTimeout = 10 * time.Second

// Config is the FRR speaker's configuration.
type Config struct {
	// Vtysh is the vtysh binary (default "vtysh" from PATH).
	Vtysh string `yaml:"vtysh" json:"vtysh,omitempty"`
	// VtySocket is the folder holding the daemons' vty sockets, passed as
	// --vty_socket (default: vtysh's own, /var/run/frr).
	VtySocket string `yaml:"vty_socket" json:"vty_socket,omitempty"`
	// ASN is the AS of the `router bgp` instance that originates the prefixes.
	ASN uint32 `yaml:"asn" json:"asn"`
	// VRF names a non-default BGP instance (`router bgp ASN vrf NAME`).
	VRF string `yaml:"vrf" json:"vrf,omitempty"`
	// Neighbors, if set, are checked too: an established neighbor's
	// advertised-routes must (not) hold the prefix.
	Neighbors []yamlconf.Addr `yaml:"neighbors" json:"neighbors,omitempty"`
}

// Check records every semantic problem of c under path.
func (c *Config) Check(p *yamlconf.Problems, path string) { c.check(p, path) }

// Validate makes Config usable as a whole document with yamlconf.Decode.
func (c *Config) Validate(p *yamlconf.Problems) { c.check(p, "") }

func (c *Config) check(p *yamlconf.Problems, path string) {
	key := func(k string) string { return yamlconf.Join(path, k) }
	if c.ASN == 0 {
		p.Add(key("asn"), "asn is required: the AS of FRR's `router bgp` instance")
	}
	if c.VRF != "" && !validWord(c.VRF) {
		p.Add(key("vrf"), "vrf %q: letters, digits, '-', '_' and '.' only", c.VRF)
	}
	for i, n := range c.Neighbors {
		if !n.IsValid() {
			p.Add(fmt.Sprintf("%s[%d]", key("neighbors"), i), "invalid neighbor address")
		}
	}
}

func validWord(s string) bool {
	return s != "" && len(s) <= 64 && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

// Speaker adds and removes network statements in FRR.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	poll time.Duration

	mu    sync.Mutex // one change at a time; guards known
	known map[netip.Prefix]bool
}

// New returns a speaker; it does not contact FRR. A nil log discards logs.
func New(cfg Config, log *slog.Logger) (*Speaker, error) {
	var probs yamlconf.Problems
	cfg.check(&probs, "")
	if err := probs.Err(); err != nil {
		return nil, fmt.Errorf("frr speaker: invalid configuration: %w", err)
	}
	if cfg.Vtysh == "" {
		cfg.Vtysh = "vtysh"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Speaker{cfg: cfg, log: log, poll: 10 * time.Millisecond, known: map[netip.Prefix]bool{}}, nil
}

// Announce adds `network PREFIX` and returns once FRR's table holds the
// locally sourced path and every listed established neighbor's
// advertised-routes hold the prefix.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix, attrs speakers.Attributes) error {
	if Capabilities().Check(attrs) != nil {
		return fmt.Errorf("announce %s: %w", prefix, ErrAttributesUnsupported)
	}
	return s.change(ctx, "announce", prefix, true)
}

// Withdraw removes `network PREFIX` and returns once FRR's table no longer
// holds a locally sourced path and no listed neighbor is advertised it.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	return s.change(ctx, "withdraw", prefix, false)
}

func (s *Speaker) change(ctx context.Context, verb string, prefix netip.Prefix, want bool) error {
	if !prefix.IsValid() || prefix.Masked() != prefix {
		return fmt.Errorf("frr speaker: %s %v: not a masked prefix", verb, prefix)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	has, err := s.localPath(ctx, prefix)
	if err != nil {
		return fmt.Errorf("frr speaker: %s %s: %w", verb, prefix, err)
	}
	// FRR refuses `no network` for a prefix it does not have, and the
	// statement is already in place when the path is there.
	if has != want {
		stmt := "network " + prefix.String()
		if !want {
			stmt = "no " + stmt
		}
		if err := s.configure(ctx, prefix, stmt); err != nil {
			return fmt.Errorf("frr speaker: %s %s: %w", verb, prefix, err)
		}
	}
	s.known[prefix] = want
	if err := s.confirm(ctx, prefix, want); err != nil {
		return fmt.Errorf("frr speaker: %s %s: %w", verb, prefix, err)
	}
	s.log.Info("frr speaker: "+verb+" done", "prefix", prefix.String())
	return nil
}

// State reports the prefixes this speaker announced or withdrew, each with
// what FRR's table holds now.
func (s *Speaker) State(ctx context.Context) ([]speakers.PrefixState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]speakers.PrefixState, 0, len(s.known))
	for p := range s.known {
		has, err := s.localPath(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("frr speaker: state: %w", err)
		}
		out = append(out, speakers.PrefixState{Prefix: p, Announced: has})
	}
	slices.SortFunc(out, func(a, b speakers.PrefixState) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

func afi(prefix netip.Prefix) string {
	if prefix.Addr().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

func (s *Speaker) bgpScope() string {
	if s.cfg.VRF != "" {
		return "show bgp vrf " + s.cfg.VRF + " "
	}
	return "show bgp "
}

// configure enters the BGP instance and address family and runs stmt.
func (s *Speaker) configure(ctx context.Context, prefix netip.Prefix, stmt string) error {
	router := fmt.Sprintf("router bgp %d", s.cfg.ASN)
	if s.cfg.VRF != "" {
		router += " vrf " + s.cfg.VRF
	}
	_, err := s.vtysh(ctx, "configure terminal", router, "address-family "+afi(prefix)+" unicast", stmt, "end")
	return err
}

// vtysh runs the commands in one vtysh session. vtysh may exit 0 and still
// print an error ("% ..."), so any such line is an error too.
func (s *Speaker) vtysh(ctx context.Context, cmds ...string) ([]byte, error) {
	var args []string
	if s.cfg.VtySocket != "" {
		args = append(args, "--vty_socket", s.cfg.VtySocket)
	}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	cmd := exec.CommandContext(ctx, s.cfg.Vtysh, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	msg := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
	if err != nil {
		return nil, fmt.Errorf("vtysh %q: %w: %s", strings.Join(cmds, "; "), err, msg)
	}
	for _, line := range strings.Split(stdout.String()+"\n"+stderr.String(), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "%") || strings.Contains(t, "is already running") || strings.HasPrefix(t, "Command incomplete") {
			return nil, fmt.Errorf("vtysh %q: %s", strings.Join(cmds, "; "), msg)
		}
	}
	return stdout.Bytes(), nil
}

func (s *Speaker) vtyshJSON(ctx context.Context, cmd string, v any) error {
	out, err := s.vtysh(ctx, cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("vtysh %q: decoding JSON: %w", cmd, err)
	}
	return nil
}

// routeJSON is the part of `show bgp ... PREFIX json` the speaker reads.
type routeJSON struct {
	Prefix string `json:"prefix"`
	Paths  []struct {
		Sourced bool `json:"sourced"`
		Local   bool `json:"local"`
		Peer    struct {
			PeerID string `json:"peerId"`
		} `json:"peer"`
	} `json:"paths"`
}

// localPath reports whether FRR's table holds a path for exactly prefix that
// FRR originates itself (a network statement).
func (s *Speaker) localPath(ctx context.Context, prefix netip.Prefix) (bool, error) {
	var r routeJSON
	if err := s.vtyshJSON(ctx, s.bgpScope()+afi(prefix)+" unicast "+prefix.String()+" json", &r); err != nil {
		return false, err
	}
	if r.Prefix != prefix.String() {
		// FRR answers {} (or the covering route) when it has none.
		return false, nil
	}
	for _, p := range r.Paths {
		if p.Sourced || p.Local || p.Peer.PeerID == "0.0.0.0" || p.Peer.PeerID == "::" {
			return true, nil
		}
	}
	return false, nil
}

// neighborsJSON is the part of `show bgp ... summary json` the speaker reads.
type summaryJSON map[string]struct {
	Peers map[string]struct {
		State string `json:"state"`
	} `json:"peers"`
}

// advertised lists the configured established neighbors whose
// advertised-routes hold prefix (has) and those that do not (lacks).
func (s *Speaker) advertised(ctx context.Context, prefix netip.Prefix) (has, lacks []string, err error) {
	if len(s.cfg.Neighbors) == 0 {
		return nil, nil, nil
	}
	var sum summaryJSON
	if err := s.vtyshJSON(ctx, s.bgpScope()+"summary json", &sum); err != nil {
		return nil, nil, err
	}
	fam := afi(prefix) + "Unicast"
	for _, n := range s.cfg.Neighbors {
		st := sum[fam].Peers[n.String()]
		if st.State != "Established" {
			continue
		}
		var adv struct {
			Routes map[string]json.RawMessage `json:"advertisedRoutes"`
		}
		cmd := s.bgpScope() + afi(prefix) + " unicast neighbors " + n.String() + " advertised-routes json"
		if err := s.vtyshJSON(ctx, cmd, &adv); err != nil {
			return nil, nil, err
		}
		if _, ok := adv.Routes[prefix.String()]; ok {
			has = append(has, n.String())
		} else {
			lacks = append(lacks, n.String())
		}
	}
	return has, lacks, nil
}

// confirm polls FRR until its table and the listed neighbors' advertised
// routes show the prefix present (want) or absent.
func (s *Speaker) confirm(ctx context.Context, prefix netip.Prefix, want bool) error {
	check := func() error {
		has, err := s.localPath(ctx, prefix)
		if err != nil {
			return err
		}
		if has != want {
			return fmt.Errorf("FRR's table: locally sourced path present=%t", has)
		}
		yes, no, err := s.advertised(ctx, prefix)
		if err != nil {
			return err
		}
		if want && len(no) > 0 {
			return fmt.Errorf("not in advertised-routes of %s", strings.Join(no, ", "))
		}
		if !want && len(yes) > 0 {
			return fmt.Errorf("still in advertised-routes of %s", strings.Join(yes, ", "))
		}
		return nil
	}
	return confirm.Poll(ctx, s.poll, DefaultTimeout, func(context.Context) error { return check() })
}
