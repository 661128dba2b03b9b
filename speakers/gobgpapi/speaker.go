// Package gobgpapi drives an external GoBGP (gobgpd) over its gRPC API:
// AddPath and DeletePath on the global table, each confirmed with ListPath
// in the Loc-RIB and in the Adj-RIB-Out of every established neighbor, the
// same confirmation as the embedded speaker.
package gobgpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/gobgpctl"
)

var _ speakers.Speaker = (*Speaker)(nil)

// Capabilities are what the gobgpd speaker can set: MED, prepend, standard
// and large communities. GracefulShutdown is false: it leaves gobgpd's
// routes as they are when the agent stops (gobgpd outlives it).
func Capabilities() speakers.Capabilities { return gobgpctl.Capabilities() }

// Capabilities returns the package's Capabilities.
func (s *Speaker) Capabilities() speakers.Capabilities { return Capabilities() }

// PeerState is the state of one gobgpd neighbor, as Peers reports it.
type PeerState = speakers.Peer

// Config is the external GoBGP speaker's configuration.
type Config struct {
	// Address is gobgpd's gRPC API, host:port (gobgpd --api-hosts).
	Address yamlconf.AddrPort `yaml:"address" json:"address"`
	// NextHop and NextHop6 are the next hops announced; unset means self.
	NextHop  yamlconf.Addr `yaml:"next_hop" json:"next_hop,omitzero"`
	NextHop6 yamlconf.Addr `yaml:"next_hop6" json:"next_hop6,omitzero"`
}

// Check records every semantic problem of c under path.
func (c *Config) Check(p *yamlconf.Problems, path string) {
	key := func(k string) string { return yamlconf.Join(path, k) }
	if !c.Address.IsValid() || c.Address.Port() == 0 {
		p.Add(key("address"), "address of gobgpd's gRPC API is required, like 127.0.0.1:50051")
	}
	if c.NextHop.IsValid() && !c.NextHop.Is4() {
		p.Add(key("next_hop"), "next_hop must be an IPv4 address")
	}
	if c.NextHop6.IsValid() && !c.NextHop6.Is6() {
		p.Add(key("next_hop6"), "next_hop6 must be an IPv6 address")
	}
}

// Validate makes Config usable as a whole document with yamlconf.Decode.
func (c *Config) Validate(p *yamlconf.Problems) { c.Check(p, "") }

// Dialer opens the connection to the API; tests use it to reach a gobgpd
// inside a network namespace.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// Speaker originates prefixes on an external gobgpd.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	conn *grpc.ClientConn
	ctl  *gobgpctl.Controller
	asn  uint32
	once sync.Once
}

// Dial connects to gobgpd and reads its AS number (needed to prepend). A nil
// dial uses TCP; a nil log discards logs.
func Dial(ctx context.Context, cfg Config, dial Dialer, log *slog.Logger) (*Speaker, error) {
	if !cfg.Address.IsValid() || cfg.Address.Port() == 0 {
		return nil, errors.New("gobgpapi speaker: address of gobgpd's gRPC API is required, like 127.0.0.1:50051")
	}
	if cfg.NextHop.IsValid() && !cfg.NextHop.Is4() || cfg.NextHop6.IsValid() && !cfg.NextHop6.Is6() {
		return nil, errors.New("gobgpapi speaker: next_hop must be IPv4 and next_hop6 IPv6")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithBlock()}
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(dial))
	}
	conn, err := grpc.DialContext(ctx, cfg.Address.String(), opts...)
	if err != nil {
		return nil, fmt.Errorf("gobgpapi speaker: connect to %s: %w", cfg.Address, err)
	}
	client := api.NewGobgpApiClient(conn)
	g, err := client.GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("gobgpapi speaker: %s: get global config: %w", cfg.Address, err)
	}
	asn := g.GetGlobal().GetAsn()
	if asn == 0 {
		conn.Close()
		return nil, fmt.Errorf("gobgpapi speaker: %s: gobgpd has no global configuration yet (AS 0)", cfg.Address)
	}
	s := &Speaker{cfg: cfg, log: log, conn: conn, asn: asn}
	s.ctl = gobgpctl.New(adapter{client}, gobgpctl.Options{ASN: asn, NextHop4: cfg.NextHop.Addr, NextHop6: cfg.NextHop6.Addr})
	log.Info("gobgpapi speaker connected", "address", cfg.Address.String(), "asn", asn)
	return s, nil
}

// ASN is gobgpd's own AS number.
func (s *Speaker) ASN() uint32 { return s.asn }

// Announce adds the path (replacing an earlier one for prefix) and returns
// once gobgpd's Loc-RIB and every established neighbor's Adj-RIB-Out hold
// it with attrs and the UPDATE was sent.
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix, attrs speakers.Attributes) error {
	if err := s.ctl.Announce(ctx, prefix, attrs); err != nil {
		return fmt.Errorf("gobgpapi speaker: %w", err)
	}
	return nil
}

// Withdraw deletes the path and returns once it is gone from gobgpd's
// Loc-RIB and every established neighbor's Adj-RIB-Out and the withdrawal
// was sent.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	if err := s.ctl.Withdraw(ctx, prefix); err != nil {
		return fmt.Errorf("gobgpapi speaker: %w", err)
	}
	return nil
}

// State lists the prefixes announced or withdrawn through this speaker.
func (s *Speaker) State(ctx context.Context) ([]speakers.PrefixState, error) { return s.ctl.State(ctx) }

// Peers reports gobgpd's neighbors.
func (s *Speaker) Peers(ctx context.Context) ([]PeerState, error) {
	ps, err := s.ctl.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("gobgpapi speaker: %w", err)
	}
	return ps, nil
}

// Close closes the connection; what was announced stays announced.
func (s *Speaker) Close() error {
	var err error
	s.once.Do(func() { err = s.conn.Close() })
	return err
}

// adapter turns the streaming gRPC client into gobgpctl.API.
type adapter struct{ c api.GobgpApiClient }

func (a adapter) AddPath(ctx context.Context, r *api.AddPathRequest) (*api.AddPathResponse, error) {
	return a.c.AddPath(ctx, r)
}

func (a adapter) DeletePath(ctx context.Context, r *api.DeletePathRequest) error {
	_, err := a.c.DeletePath(ctx, r)
	return err
}

func (a adapter) ListPath(ctx context.Context, r *api.ListPathRequest, fn func(*api.Destination)) error {
	st, err := a.c.ListPath(ctx, r)
	if err != nil {
		return err
	}
	return drain(st.Recv, func(m *api.ListPathResponse) { fn(m.GetDestination()) })
}

func (a adapter) ListPeer(ctx context.Context, r *api.ListPeerRequest, fn func(*api.Peer)) error {
	st, err := a.c.ListPeer(ctx, r)
	if err != nil {
		return err
	}
	return drain(st.Recv, func(m *api.ListPeerResponse) { fn(m.GetPeer()) })
}

// drain reads a server stream to its end, handing each message to fn.
func drain[M any](recv func() (M, error), fn func(M)) error {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(m)
	}
}
