package bird

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/anydiag/anydiag/speakers/internal/confirm"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

var _ speakers.Speaker = (*Speaker)(nil)

// ErrAttributesUnsupported is returned by Announce when asked for a
// degraded route: the attributes of a BIRD route live in its configuration,
// so this speaker can only switch the route on and off. It wraps
// speakers.ErrUnsupported.
var ErrAttributesUnsupported = fmt.Errorf("bird speaker: MED, prepend and communities are set in the BIRD configuration, not at run time: %w", speakers.ErrUnsupported)

// Capabilities are what the BIRD speaker can do: announce and withdraw
// only (see ErrAttributesUnsupported), no graceful-shutdown drain of its own
// (BIRD's configuration can set 65535:0 in an export filter).
func Capabilities() speakers.Capabilities { return speakers.Capabilities{} }

// Capabilities returns the package's Capabilities.
func (s *Speaker) Capabilities() speakers.Capabilities { return Capabilities() }

// Config is the BIRD speaker's configuration.
type Config struct {
	// Socket is the control socket (default /run/bird/bird.ctl).
	Socket string `yaml:"socket" json:"socket,omitempty"`
	// Prefixes map each anycast prefix to the protocol that originates it.
	Prefixes []Prefix `yaml:"prefixes" json:"prefixes"`
	// BGPProtocols are the BGP protocols the prefixes are exported to;
	// while one is Established, the speaker checks its export table too.
	BGPProtocols []string `yaml:"bgp_protocols" json:"bgp_protocols,omitempty"`
}

// Prefix names the protocol (usually a static protocol holding only this
// route) that BIRD enables to announce Prefix and disables to withdraw it.
type Prefix struct {
	Prefix   yamlconf.Prefix `yaml:"prefix" json:"prefix"`
	Protocol string          `yaml:"protocol" json:"protocol"`
}

// Check records every semantic problem of c under path.
func (c *Config) Check(p *yamlconf.Problems, path string) { c.check(p, path) }

func (c *Config) check(p *yamlconf.Problems, path string) {
	key := func(k string) string { return yamlconf.Join(path, k) }
	if len(c.Prefixes) == 0 {
		p.Add(key("prefixes"), "at least one prefix is required")
	}
	seen := map[netip.Prefix]bool{}
	for i, pr := range c.Prefixes {
		k := fmt.Sprintf("%s[%d]", key("prefixes"), i)
		if !pr.Prefix.IsValid() {
			p.Add(k+".prefix", "prefix is required")
		} else if seen[pr.Prefix.Prefix] {
			p.Add(k+".prefix", "prefix %s is listed twice", pr.Prefix.Prefix)
		}
		seen[pr.Prefix.Prefix] = true
		if !validName(pr.Protocol) {
			p.Add(k+".protocol", "protocol %q is not a BIRD protocol name", pr.Protocol)
		}
	}
	for i, b := range c.BGPProtocols {
		if !validName(b) {
			p.Add(fmt.Sprintf("%s[%d]", key("bgp_protocols"), i), "%q is not a BIRD protocol name", b)
		}
	}
}

// Validate makes Config usable as a whole document with yamlconf.Decode.
func (c *Config) Validate(p *yamlconf.Problems) { c.Check(p, "") }

// Speaker announces and withdraws prefixes by enabling and disabling their
// protocols in BIRD.
type Speaker struct {
	cfg    Config
	client *Client
	log    *slog.Logger
	poll   time.Duration

	mu sync.Mutex // one change at a time
}

// New returns a speaker; it does not contact BIRD. A nil log discards logs.
func New(cfg Config, log *slog.Logger) (*Speaker, error) {
	var probs yamlconf.Problems
	cfg.check(&probs, "")
	if err := probs.Err(); err != nil {
		return nil, fmt.Errorf("bird speaker: invalid configuration: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Speaker{cfg: cfg, client: &Client{Socket: cfg.Socket}, log: log, poll: 10 * time.Millisecond}, nil
}

// Client returns the control-socket client the speaker uses.
func (s *Speaker) Client() *Client { return s.client }

func (s *Speaker) protocolFor(prefix netip.Prefix) (string, error) {
	for _, p := range s.cfg.Prefixes {
		if p.Prefix.Prefix == prefix {
			return p.Protocol, nil
		}
	}
	return "", fmt.Errorf("bird speaker: prefix %s is not configured", prefix)
}

// Announce enables the prefix's protocol and returns once BIRD shows the
// protocol up, its route for the prefix in the table, and the route in the
// export table of every Established BGP protocol.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix, attrs speakers.Attributes) error {
	if Capabilities().Check(attrs) != nil {
		return fmt.Errorf("announce %s: %w", prefix, ErrAttributesUnsupported)
	}
	proto, err := s.protocolFor(prefix)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.toggle(ctx, "enable", proto, CodeEnabled, CodeAlreadyEnabled); err != nil {
		return fmt.Errorf("bird speaker: announce %s: %w", prefix, err)
	}
	if err := s.confirm(ctx, func() error { return s.check(ctx, prefix, proto, true) }); err != nil {
		return fmt.Errorf("bird speaker: announce %s: %w", prefix, err)
	}
	s.log.Info("bird speaker: announced", "prefix", prefix.String(), "protocol", proto)
	return nil
}

// Withdraw disables the prefix's protocol and returns once BIRD shows it
// down, no route of it for the prefix, and none in any BGP export table.
// It refuses when the protocol originates other routes too: disabling it
// would withdraw them as well.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	proto, err := s.protocolFor(prefix)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	others, err := s.otherRoutes(ctx, prefix, proto)
	if err != nil {
		return fmt.Errorf("bird speaker: withdraw %s: %w", prefix, err)
	}
	if len(others) > 0 {
		return fmt.Errorf("bird speaker: withdraw %s: protocol %s also originates %s; disabling it would withdraw them too",
			prefix, proto, strings.Join(others, ", "))
	}
	if err := s.toggle(ctx, "disable", proto, CodeDisabled, CodeAlreadyDisabled); err != nil {
		return fmt.Errorf("bird speaker: withdraw %s: %w", prefix, err)
	}
	if err := s.confirm(ctx, func() error { return s.check(ctx, prefix, proto, false) }); err != nil {
		return fmt.Errorf("bird speaker: withdraw %s: %w", prefix, err)
	}
	s.log.Info("bird speaker: withdrawn", "prefix", prefix.String(), "protocol", proto)
	return nil
}

// State reports, for every configured prefix, whether its protocol is up
// and originates it.
func (s *Speaker) State(ctx context.Context) ([]speakers.PrefixState, error) {
	out := make([]speakers.PrefixState, 0, len(s.cfg.Prefixes))
	for _, p := range s.cfg.Prefixes {
		st, err := s.client.Protocol(ctx, p.Protocol)
		if err != nil {
			return nil, fmt.Errorf("bird speaker: state: %w", err)
		}
		has := false
		if st.Up() {
			if has, err = s.hasRoute(ctx, p.Prefix.Prefix, "protocol "+p.Protocol, p.Protocol); err != nil {
				return nil, fmt.Errorf("bird speaker: state: %w", err)
			}
		}
		out = append(out, speakers.PrefixState{Prefix: p.Prefix.Prefix, Announced: has})
	}
	return out, nil
}

// toggle runs enable/disable and checks BIRD's per-protocol answer.
func (s *Speaker) toggle(ctx context.Context, verb, proto string, done, already int) error {
	rep, err := s.client.Command(ctx, verb+" "+proto)
	if err != nil {
		return err
	}
	for _, l := range rep.Lines {
		if (l.Code == done || l.Code == already) && strings.HasPrefix(l.Text, proto+":") {
			return nil
		}
	}
	return fmt.Errorf("%s %s: BIRD did not confirm (reply %04d %q)", verb, proto, rep.Code, strings.Join(rep.Text(rep.Code), " "))
}

// check compares BIRD's view with the wanted one and says what differs.
func (s *Speaker) check(ctx context.Context, prefix netip.Prefix, proto string, want bool) error {
	st, err := s.client.Protocol(ctx, proto)
	if err != nil {
		return err
	}
	if st.Up() != want {
		return fmt.Errorf("protocol %s is %s", proto, st.State)
	}
	has, err := s.hasRoute(ctx, prefix, "protocol "+proto, proto)
	if err != nil {
		return err
	}
	if has != want {
		return fmt.Errorf("route table: route from %s present=%t", proto, has)
	}
	for _, b := range s.cfg.BGPProtocols {
		bst, err := s.client.Protocol(ctx, b)
		if err != nil {
			return err
		}
		if !bst.Up() || !strings.HasPrefix(bst.Info, "Established") {
			continue
		}
		has, err := s.hasRoute(ctx, prefix, "export "+b, proto)
		if err != nil {
			return err
		}
		if has != want {
			return fmt.Errorf("export to %s: route from %s present=%t", b, proto, has)
		}
	}
	return nil
}

// hasRoute reports whether `show route for PREFIX <selector>` lists a route
// of prefix that came from proto.
func (s *Speaker) hasRoute(ctx context.Context, prefix netip.Prefix, selector, proto string) (bool, error) {
	rep, err := s.client.Command(ctx, "show route for "+prefix.String()+" "+selector)
	var re *ReplyError
	if errors.As(err, &re) && re.Code == CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	routes := parseRoutes(rep)
	for _, r := range routes {
		if r.prefix == prefix && r.proto == proto {
			return true, nil
		}
	}
	return false, nil
}

// otherRoutes lists routes of proto other than prefix.
func (s *Speaker) otherRoutes(ctx context.Context, prefix netip.Prefix, proto string) ([]string, error) {
	rep, err := s.client.Command(ctx, "show route protocol "+proto)
	var re *ReplyError
	if errors.As(err, &re) && re.Code == CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range parseRoutes(rep) {
		if r.proto == proto && r.prefix != prefix {
			out = append(out, r.prefix.String())
		}
	}
	return out, nil
}

type route struct {
	prefix netip.Prefix
	proto  string
}

// parseRoutes reads the 1007 lines of `show route`: a route line starts with
// the prefix (continuation lines of further paths omit it) and names its
// protocol in brackets: "192.0.2.1/32  blackhole [anycast_v4 12:00:00] * (200)".
func parseRoutes(rep Reply) []route {
	var out []route
	var cur netip.Prefix
	for _, t := range rep.Text(CodeRouteList) {
		f := strings.Fields(t)
		if len(f) == 0 || strings.HasPrefix(t, "Table ") {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil {
			cur = p
		}
		i := strings.IndexByte(t, '[')
		if i < 0 || !cur.IsValid() {
			continue
		}
		name, _, _ := strings.Cut(t[i+1:], " ")
		name = strings.TrimSuffix(name, "]")
		out = append(out, route{prefix: cur, proto: name})
	}
	return out
}

// confirm polls check until it passes or ctx ends; the error then says what
// BIRD still showed.
func (s *Speaker) confirm(ctx context.Context, check func() error) error {
	return confirm.Poll(ctx, s.poll, DefaultTimeout, func(context.Context) error { return check() })
}
