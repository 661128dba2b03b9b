// Package gobgp is the default speaker: a GoBGP v3 server embedded in the
// agent peers with the upstream routers itself, originates the anycast
// prefixes and reports per-neighbor state. Every Announce and Withdraw is
// confirmed in the Loc-RIB and in the Adj-RIB-Out of each established
// neighbor, and waits until the UPDATE has been written to it.
package gobgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/gobgpctl"
)

var _ speakers.Speaker = (*Speaker)(nil)

// Capabilities are what the embedded speaker can do: MED, prepend, standard
// and large communities, and a graceful-shutdown drain on stop (on_stop:
// graceful-shutdown).
func Capabilities() speakers.Capabilities {
	c := gobgpctl.Capabilities()
	c.GracefulShutdown = true
	return c
}

// Capabilities returns the package's Capabilities.
func (s *Speaker) Capabilities() speakers.Capabilities { return Capabilities() }

// PeerState is the state of one neighbor, as Peers reports it.
type PeerState = speakers.Peer

// ErrNotStarted is returned by calls made before Start or after Stop.
var ErrNotStarted = errors.New("gobgp speaker: not started")

// Speaker is the embedded GoBGP speaker. Build it with New, then Start it;
// Stop withdraws what it announced and closes the sessions.
type Speaker struct {
	cfg Config
	log *slog.Logger

	mu  sync.Mutex // guards srv, ctl and the lifecycle
	srv *server.BgpServer
	ctl *gobgpctl.Controller
	lg  *logger
	// pooled is srv with its logger, handed back to the pool by Stop.
	pooled *pooledServer
}

// New checks cfg and returns a stopped speaker. A nil log discards logs.
func New(cfg Config, log *slog.Logger) (*Speaker, error) {
	if err := cfg.Err(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Speaker{cfg: cfg, log: log}, nil
}

// Start runs the BGP server and configures the neighbors. Sessions come up
// in the background; Peers shows their progress.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("gobgp speaker: already started")
	}
	lg := newLogger(s.log, time.Now)
	// GoBGP v3's Serve loop has no way to end, so a stopped server is
	// reused rather than leaked (pool.go), TCP-MD5 passwords included.
	pooled := getServer(lg)
	srv := pooled.srv

	global := &api.Global{
		Asn:      s.cfg.ASN,
		RouterId: s.cfg.RouterID.String(),
		// GoBGP reads 0 as "the default port" and -1 as "do not listen".
		ListenPort: int32(s.cfg.ListenPort),
	}
	if s.cfg.LocalAddress.IsValid() {
		global.ListenAddresses = []string{s.cfg.LocalAddress.String()}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		putServer(pooled)
		return fmt.Errorf("gobgp speaker: start: %w", err)
	}
	if err := exportOriginatedOnly(ctx, srv); err != nil {
		putServer(pooled)
		return fmt.Errorf("gobgp speaker: export policy: %w", err)
	}
	for _, n := range s.cfg.Neighbors {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peer(n)}); err != nil {
			putServer(pooled)
			return fmt.Errorf("gobgp speaker: add neighbor %s: %w", n.Address.Addr, err)
		}
	}
	s.srv, s.lg, s.pooled = srv, lg, pooled
	s.ctl = gobgpctl.New(srv, gobgpctl.Options{
		ASN: s.cfg.ASN, NextHop4: s.cfg.NextHop.Addr, NextHop6: s.cfg.NextHop6.Addr,
		LastDown: lg.lastDown, OriginatedOnly: true,
	})
	s.log.Info("gobgp speaker started", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID.String(), "neighbors", len(s.cfg.Neighbors))
	return nil
}

// exportOriginatedOnly exports only the routes this speaker originates (the
// anycast prefixes) and nothing learned from a neighbor: GoBGP's default
// would pass one upstream's routes to the others and make the PoP a transit
// between them (a route leak; RFC 8212 wants eBGP to export nothing without
// a policy). SetPolicies replaces the policy definitions and
// SetPolicyAssignment the global export assignment, so a reused server ends
// up with exactly this one.
func exportOriginatedOnly(ctx context.Context, srv *server.BgpServer) error {
	const name = "anydiag-originated-only"
	if err := srv.SetPolicies(ctx, &api.SetPoliciesRequest{Policies: []*api.Policy{{
		Name: name,
		Statements: []*api.Statement{{
			Name:       "local-routes",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}},
	}}}); err != nil {
		return err
	}
	return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_EXPORT,
		Policies:      []*api.Policy{{Name: name}},
		DefaultAction: api.RouteAction_REJECT,
	}})
}

func (s *Speaker) peer(n Neighbor) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.Address.String(),
			PeerAsn:         n.ASN,
			AuthPassword:    n.Password,
		},
		Transport: &api.Transport{PassiveMode: n.Passive, RemotePort: uint32(n.Port)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 5}},
	}
	if s.cfg.LocalAddress.IsValid() {
		p.Transport.LocalAddress = s.cfg.LocalAddress.String()
	}
	if n.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.Multihop)}
	}
	if h := n.HoldTime.D(); h > 0 {
		p.Timers.Config.HoldTime = uint64(h / time.Second)
		p.Timers.Config.KeepaliveInterval = max(1, uint64(h/time.Second)/3)
	}
	if r := n.ConnectRetry.D(); r > 0 {
		p.Timers.Config.ConnectRetry = uint64(r / time.Second)
	}
	for _, f := range n.families() {
		fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
		if f == FamilyIPv6Unicast {
			fam.Afi = api.Family_AFI_IP6
		}
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}})
	}
	return p
}

func (s *Speaker) controller() (*gobgpctl.Controller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctl == nil {
		return nil, ErrNotStarted
	}
	return s.ctl, nil
}

// Announce originates prefix with attrs (replacing earlier attributes) and
// returns once every established neighbor has been sent it, or an error
// naming what did not happen.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix, attrs speakers.Attributes) error {
	ctl, err := s.controller()
	if err != nil {
		return err
	}
	if err := ctl.Announce(ctx, prefix, attrs); err != nil {
		return fmt.Errorf("gobgp speaker: %w", err)
	}
	s.log.Info("gobgp speaker: announced", "prefix", prefix.String(), "attributes", attrs)
	return nil
}

// Withdraw stops originating prefix and returns once every established
// neighbor has been sent the withdrawal, or an error naming what did not
// happen.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	ctl, err := s.controller()
	if err != nil {
		return err
	}
	if err := ctl.Withdraw(ctx, prefix); err != nil {
		return fmt.Errorf("gobgp speaker: %w", err)
	}
	s.log.Info("gobgp speaker: withdrawn", "prefix", prefix.String())
	return nil
}

// State lists the prefixes announced or withdrawn through this speaker.
func (s *Speaker) State(ctx context.Context) ([]speakers.PrefixState, error) {
	ctl, err := s.controller()
	if err != nil {
		return nil, err
	}
	return ctl.State(ctx)
}

// Peers reports every configured neighbor's session. Advertised counts the
// speaker's own prefixes, the only routes its export policy sends
// (gobgpctl.Controller.Sessions), cheaply whatever the size of the table
// received from the upstreams.
func (s *Speaker) Peers(ctx context.Context) ([]PeerState, error) {
	ctl, err := s.controller()
	if err != nil {
		return nil, err
	}
	peers, err := ctl.Sessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("gobgp speaker: %w", err)
	}
	return peers, nil
}

// advertisedTimeout bounds Advertised: it feeds a gauge read at scrape time,
// which must answer even when GoBGP is busy.
const advertisedTimeout = time.Second

// Advertised reports whether prefix is in the Adj-RIB-Out of at least one
// Established neighbor that negotiated its family, i.e. whether an upstream
// can hold the route. ok is false when the speaker is not running or did not
// answer within a second. The policy engine uses it for
// anydiag_policy_announced (policy.Options.Advertised).
func (s *Speaker) Advertised(prefix netip.Prefix) (advertised bool, ok bool) {
	ctl, err := s.controller()
	if err != nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), advertisedTimeout)
	defer cancel()
	return ctl.Advertised(ctx, prefix)
}

// Observe reads every neighbor once and returns, at now, the anydiag_bgp_*
// metric families of the speaker's own sessions and the sessions
// themselves, which analyzers/session judges (session.SpeakerFindings of
// session.FromSpeaker: bgp.session_down, bgp.family_not_carried).
func (s *Speaker) Observe(ctx context.Context, now time.Time) (*metrics.Set, []PeerState, error) {
	peers, err := s.Peers(ctx)
	if err != nil {
		return metrics.NewSet(), nil, err
	}
	return gobgpctl.Metrics(peers, now), peers, nil
}

// Stop withdraws every announced prefix (after a graceful-shutdown drain if
// configured), closes the sessions with a Cease NOTIFICATION and stops the
// listener. It stops the server even when a withdrawal cannot be confirmed,
// and then returns that error: closed sessions take the routes away anyway.
func (s *Speaker) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	errs := []error{s.drain(ctx)}
	putServer(s.pooled)
	s.srv, s.ctl, s.pooled = nil, nil, nil
	s.log.Info("gobgp speaker stopped")
	return errors.Join(errs...)
}

// drain carries out OnStop for every announced prefix.
func (s *Speaker) drain(ctx context.Context) error {
	announced := s.ctl.Announced()
	prefixes := make([]netip.Prefix, 0, len(announced))
	for p := range announced {
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	var errs []error
	if s.cfg.OnStop == OnStopGracefulShutdown && len(prefixes) > 0 {
		for _, p := range prefixes {
			a := announced[p]
			if !slices.Contains(a.Communities, speakers.GracefulShutdown) {
				a.Communities = append(a.Communities, speakers.GracefulShutdown)
			}
			errs = append(errs, s.ctl.Announce(ctx, p, a))
		}
		wait := s.cfg.ShutdownDrain.D()
		if wait == 0 {
			wait = 30 * time.Second
		}
		s.log.Info("gobgp speaker: graceful shutdown announced, draining", "prefixes", len(prefixes), "drain", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			errs = append(errs, fmt.Errorf("graceful shutdown drain cut short: %w", ctx.Err()))
		}
	}
	for _, p := range prefixes {
		errs = append(errs, s.ctl.Withdraw(ctx, p))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gobgp speaker: stop: %w", err)
	}
	return nil
}
