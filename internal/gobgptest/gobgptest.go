// Package gobgptest runs embedded GoBGP v3 routers on loopback addresses
// for tests: real BGP peers and BMP senders that the BMP station, the
// agent and the CLI are tested against.
package gobgptest

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Router is one embedded GoBGP server listening on Addr:Port.
type Router struct {
	S    *server.BgpServer
	Addr string
	Port int
	ASN  uint32
}

// FreePort returns a TCP port free on addr at the time of the call.
func FreePort(t testing.TB, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", addr, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs a router of AS asn on addr (a loopback address); the test's
// cleanup stops it.
func Start(t testing.TB, asn uint32, addr string) *Router {
	t.Helper()
	lg := gobgplog.NewDefaultLogger()
	lg.SetLevel(gobgplog.ErrorLevel)
	s := server.NewBgpServer(server.LoggerOption(lg))
	go s.Serve()
	r := &Router{S: s, Addr: addr, Port: FreePort(t, addr), ASN: asn}
	if err := s.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(r.Port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatalf("start GoBGP AS%d on %s: %v", asn, addr, err)
	}
	t.Cleanup(func() { s.Stop() })
	return r
}

// PeerOptions shape a session made by Peer.
type PeerOptions struct {
	// Passive makes the router wait for the other to connect.
	Passive bool
	// IPv6 adds IPv6 unicast beside IPv4 unicast.
	IPv6 bool
	// AddPathSend and AddPathRecv negotiate ADD-PATH (RFC 7911).
	AddPathSend, AddPathRecv bool
}

// Peer configures r to peer with o.
func (r *Router) Peer(t testing.TB, o *Router, opt PeerOptions) {
	t.Helper()
	r.addPeer(t, o.Addr, o.ASN, o.Port, opt)
}

// Await configures r to wait for a session from neighbor of AS asn that
// is not a Router of this package (the agent's embedded speaker, say).
func (r *Router) Await(t testing.TB, neighbor string, asn uint32, opt PeerOptions) {
	t.Helper()
	opt.Passive = true
	r.addPeer(t, neighbor, asn, 0, opt)
}

func (r *Router) addPeer(t testing.TB, neighbor string, asn uint32, port int, opt PeerOptions) {
	t.Helper()
	fams := []*api.Family{{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}
	if opt.IPv6 {
		fams = append(fams, &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST})
	}
	var afs []*api.AfiSafi
	for _, f := range fams {
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if opt.AddPathSend || opt.AddPathRecv {
			ap := &api.AddPathsConfig{Receive: opt.AddPathRecv}
			if opt.AddPathSend {
				ap.SendMax = 8
			}
			af.AddPaths = &api.AddPaths{Config: ap}
		}
		afs = append(afs, af)
	}
	if err := r.S.AddPeer(context.Background(), &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: neighbor, PeerAsn: asn},
		Transport: &api.Transport{LocalAddress: r.Addr, RemotePort: uint32(port), PassiveMode: opt.Passive},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 30, KeepaliveInterval: 10}},
		AfiSafis:  afs,
	}}); err != nil {
		t.Fatalf("AS%d: add peer %s: %v", r.ASN, neighbor, err)
	}
}

// Originate announces an IPv4 prefix from r with itself as next hop, or
// withdraws it.
func (r *Router) Originate(t testing.TB, prefix netip.Prefix, withdraw bool) {
	t.Helper()
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop(r.Addr),
	}
	p, err := apiutil.NewPath(bgp.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String()), withdraw, attrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if withdraw {
		err = r.S.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Path: p})
	} else {
		_, err = r.S.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	}
	if err != nil {
		t.Fatalf("AS%d: originate %s (withdraw %v): %v", r.ASN, prefix, withdraw, err)
	}
}

// Uptime is when r's session with neighbor last became Established, zero
// while it is not: a session that bounced has a later time.
func (r *Router) Uptime(t testing.TB, neighbor string) time.Time {
	t.Helper()
	var up time.Time
	err := r.S.ListPeer(context.Background(), &api.ListPeerRequest{Address: neighbor}, func(p *api.Peer) {
		if p.State.GetSessionState() == api.PeerState_ESTABLISHED && p.Timers.GetState().GetUptime() != nil {
			up = p.Timers.State.Uptime.AsTime()
		}
	})
	if err != nil {
		t.Fatalf("AS%d: list peer %s: %v", r.ASN, neighbor, err)
	}
	return up
}
