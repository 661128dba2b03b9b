package gobgpapi

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type quiet struct{}

func (quiet) Panic(string, gobgplog.Fields) {}
func (quiet) Fatal(string, gobgplog.Fields) {}
func (quiet) Error(string, gobgplog.Fields) {}
func (quiet) Warn(string, gobgplog.Fields)  {}
func (quiet) Info(string, gobgplog.Fields)  {}
func (quiet) Debug(string, gobgplog.Fields) {}
func (quiet) SetLevel(gobgplog.LogLevel)    {}
func (quiet) GetLevel() gobgplog.LogLevel   { return gobgplog.PanicLevel }

// bgpServer starts a GoBGP v3.37 server; grpcPort > 0 serves its API.
func bgpServer(t *testing.T, asn uint32, id string, listen, grpcPort int, peerASN uint32, peerPort int, passive bool) *server.BgpServer {
	t.Helper()
	opts := []server.ServerOption{server.LoggerOption(quiet{})}
	if grpcPort > 0 {
		opts = append(opts, server.GrpcListenAddress("127.0.0.1:"+strconv.Itoa(grpcPort)))
	}
	s := server.NewBgpServer(opts...)
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: id, ListenPort: int32(listen), ListenAddresses: []string{"127.0.0.1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: passive, RemotePort: uint32(peerPort)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// TestAgainstGoBGPServer drives a GoBGP v3.37 server over its real gRPC API;
// that server peers with a second GoBGP standing in for the upstream. The
// lab test does the same against Debian's gobgpd.
func TestAgainstGoBGPServer(t *testing.T) {
	routerPort, grpcPort := freePort(t), freePort(t)
	router := bgpServer(t, 65001, "198.51.100.1", routerPort, 0, 65020, 0, true)
	bgpServer(t, 65020, "192.0.2.20", -1, grpcPort, 65001, routerPort, false)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cfg Config
	cfg.Address = yamlconf.AddrPort{AddrPort: netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(grpcPort))}
	sp, err := Dial(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.ASN() != 65020 {
		t.Fatalf("ASN = %d", sp.ASN())
	}
	for {
		ps, err := sp.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 && ps[0].Established() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("session not established: %+v", ps)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p := netip.MustParsePrefix("192.0.2.1/32")
	has := func() (bool, uint32) {
		var found bool
		var med uint32
		router.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}},
			func(d *api.Destination) {
				if d.Prefix != p.String() {
					return
				}
				found = true
				for _, a := range d.Paths[0].Pattrs {
					var m api.MultiExitDiscAttribute
					if a.UnmarshalTo(&m) == nil {
						med = m.Med
					}
				}
			})
		return found, med
	}
	waitRouter := func(wantFound bool, wantMED uint32) {
		t.Helper()
		for {
			f, m := has()
			if f == wantFound && m == wantMED {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("router: found=%t med=%d, want %t %d", f, m, wantFound, wantMED)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	med := uint32(300)
	if err := sp.Announce(ctx, p, speakers.Attributes{MED: &med}); err != nil {
		t.Fatal(err)
	}
	waitRouter(true, 300)
	if err := sp.Withdraw(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitRouter(false, 0)
	if err := sp.Announce(ctx, p, speakers.Attributes{Prepend: 33}); err == nil {
		t.Fatal("an out of range prepend was accepted")
	}
}
