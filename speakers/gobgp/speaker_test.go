package gobgp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/anydiag/anydiag/analyzers/session"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/speakers"
)

// freePort returns a TCP port that was free a moment ago on addr.
func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// router is a second GoBGP server standing in for the upstream router: it
// listens on loopback and accepts the speaker's session.
type router struct {
	srv *server.BgpServer
}

func startRouter(t *testing.T, addr string, port int, speakerASN uint32) *router {
	t.Helper()
	srv := server.NewBgpServer(server.LoggerOption(newLogger(slog.New(slog.DiscardHandler), time.Now)))
	go srv.Serve()
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65001, RouterId: "198.51.100.1", ListenPort: int32(port), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatal(err)
	}
	fams := []*api.AfiSafi{
		{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: addr, PeerAsn: speakerASN},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  fams,
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &router{srv: srv}
}

// received returns the router's path for prefix (nil if none).
func (r *router) received(t *testing.T, prefix netip.Prefix) *api.Path {
	t.Helper()
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if prefix.Addr().Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	var got *api.Path
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{
		TableType: api.TableType_GLOBAL, Family: fam,
		Prefixes: []*api.TableLookupPrefix{{Prefix: prefix.String()}},
	}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if d.Prefix == prefix.String() && !p.IsWithdraw {
				got = p
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// observe is what the agent's bgp task does: the speaker's Observe, then
// analyzers/session's findings about the sessions it returns.
func observe(ctx context.Context, sp *Speaker, now time.Time, prefixes []netip.Prefix) (*metrics.Set, []finding.Finding, error) {
	set, peers, err := sp.Observe(ctx, now)
	if err != nil {
		return set, nil, err
	}
	return set, session.SpeakerFindings(now, session.FromSpeaker(peers), prefixes), nil
}

// describe renders the attributes the tests look at: AS path, MED,
// communities (standard, then large).
func describe(p *api.Path) string {
	if p == nil {
		return "none"
	}
	var as []string
	med, comms := "-", []string{}
	for _, a := range p.Pattrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		switch v := m.(type) {
		case *api.AsPathAttribute:
			for _, s := range v.Segments {
				for _, n := range s.Numbers {
					as = append(as, fmt.Sprint(n))
				}
			}
		case *api.MultiExitDiscAttribute:
			med = fmt.Sprint(v.Med)
		case *api.CommunitiesAttribute:
			for _, c := range v.Communities {
				comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
			}
		case *api.LargeCommunitiesAttribute:
			for _, c := range v.Communities {
				comms = append(comms, fmt.Sprintf("%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2))
			}
		}
	}
	return fmt.Sprintf("as=%s med=%s comm=%s", strings.Join(as, " "), med, strings.Join(comms, ","))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := lab.WaitFor(context.Background(), 20*time.Second, 10*time.Millisecond, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func startSpeaker(t *testing.T, addr string, port int, onStop string) *Speaker {
	t.Helper()
	cfg := Config{
		ASN: 65010, RouterID: yamlconf.Addr{Addr: netip.MustParseAddr("192.0.2.10")}, ListenPort: -1,
		Neighbors: []Neighbor{{Address: yamlconf.Addr{Addr: netip.MustParseAddr(addr)}, ASN: 65001, Port: uint16(port),
			ConnectRetry: yamlconf.Duration(time.Second)}},
		OnStop: onStop, ShutdownDrain: yamlconf.Duration(50 * time.Millisecond),
	}
	sp, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Stop(context.Background()) })
	waitFor(t, "session established", func() bool {
		ps, err := sp.Peers(context.Background())
		return err == nil && len(ps) == 1 && ps[0].Established()
	})
	return sp
}

func ptr[T any](v T) *T { return &v }

// TestAnnounceReplaceWithdraw runs the speaker against a second, real GoBGP
// server over loopback TCP, for IPv4 and IPv6.
func TestAnnounceReplaceWithdraw(t *testing.T) {
	for _, tc := range []struct{ addr, prefix string }{
		{"127.0.0.1", "192.0.2.1/32"},
		{"::1", "2001:db8::1/128"},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			port := freePort(t, tc.addr)
			r := startRouter(t, tc.addr, port, 65010)
			sp := startSpeaker(t, tc.addr, port, "")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p := netip.MustParsePrefix(tc.prefix)

			steps := []struct {
				name  string
				attrs *speakers.Attributes // nil means Withdraw
				want  string
			}{
				{"plain", &speakers.Attributes{}, "as=65010 med=- comm="},
				{"degraded", &speakers.Attributes{MED: ptr(uint32(500)), Prepend: 2, Communities: []speakers.Community{speakers.GracefulShutdown, speakers.Standard(65010, 7), speakers.Large(65010, 1, 2)}},
					"as=65010 65010 65010 med=500 comm=65535:0,65010:7,65010:1:2"},
				{"restored", &speakers.Attributes{}, "as=65010 med=- comm="},
				{"withdrawn", nil, "none"},
				{"withdrawn again", nil, "none"},
				{"announced again", &speakers.Attributes{MED: ptr(uint32(0))}, "as=65010 med=0 comm="},
			}
			for _, st := range steps {
				var err error
				if st.attrs == nil {
					err = sp.Withdraw(ctx, p)
				} else {
					err = sp.Announce(ctx, p, *st.attrs)
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				// The speaker returns once the UPDATE is written; the
				// router may take a moment to process it.
				waitFor(t, st.name, func() bool { return describe(r.received(t, p)) == st.want })
			}
			states, err := sp.State(ctx)
			if err != nil || len(states) != 1 || !states[0].Announced || states[0].Attributes.MED == nil {
				t.Fatalf("State = %+v, %v", states, err)
			}
			peers, err := sp.Peers(ctx)
			if err != nil || peers[0].ASN != 65001 || peers[0].Advertised != 1 || peers[0].Since.IsZero() {
				t.Fatalf("Peers = %+v, %v", peers, err)
			}
			if err := sp.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "route gone after Stop", func() bool { return r.received(t, p) == nil })
			if err := sp.Announce(ctx, p, speakers.Attributes{}); !errors.Is(err, ErrNotStarted) {
				t.Fatalf("Announce after Stop: %v", err)
			}
		})
	}
}

// TestGracefulShutdownOnStop checks that Stop sends the GRACEFUL_SHUTDOWN
// community before it withdraws.
func TestGracefulShutdownOnStop(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	r := startRouter(t, "127.0.0.1", port, 65010)
	sp := startSpeaker(t, "127.0.0.1", port, OnStopGracefulShutdown)
	p := netip.MustParsePrefix("192.0.2.1/32")
	ctx := context.Background()
	if err := sp.Announce(ctx, p, speakers.Attributes{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	events := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	w, cancel := context.WithCancel(ctx)
	defer cancel()
	// The callback runs on a goroutine of the router's; cancel ends it.
	err := r.srv.WatchEvent(w, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST}},
	}}, func(ev *api.WatchEventResponse) {
		mu.Lock()
		defer mu.Unlock()
		for _, path := range ev.GetTable().GetPaths() {
			if path.IsWithdraw {
				seen = append(seen, "withdraw")
			} else {
				seen = append(seen, describe(path))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"as=65010 med=- comm=65535:0", "withdraw"}
	waitFor(t, "graceful shutdown then withdrawal", func() bool {
		got := events()
		return len(got) >= 2 && slices.Equal(got[len(got)-2:], want)
	})
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the problems, in order
	}{
		{"ok", `
asn: 65010
router_id: 192.0.2.10
listen_port: -1
neighbors:
  - {address: 198.51.100.1, asn: 65001, hold_time: 9s}
  - {address: "2001:db8::1", asn: 65001, families: [ipv6-unicast]}
`, nil},
		{"bad", `
asn: 0
router_id: "2001:db8::1"
listen_port: -1
on_stop: keep
next_hop: "2001:db8::2"
neighbors:
  - {address: 198.51.100.1, asn: 0, passive: true, hold_time: 1s, families: [ipv6-unicast, l2vpn]}
  - {address: 198.51.100.1, asn: 65001}
`, []string{"asn is required", "router_id must be an IPv4", "on_stop", "next_hop must be an IPv4",
			"asn is required", "passive neighbor", "hold_time 1s", "l2vpn", "need next_hop6", "listed twice"}},
		{"no neighbors", "asn: 1\nrouter_id: 192.0.2.1\n", []string{"at least one neighbor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yamlconf.Decode("speaker.yaml", []byte(tc.yaml), &c)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ye *yamlconf.Error
			if !errors.As(err, &ye) {
				t.Fatalf("want problems, got %v", err)
			}
			var msgs []string
			for _, p := range ye.Problems {
				msgs = append(msgs, p.String())
			}
			all := strings.Join(msgs, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems lack %q:\n%s", w, all)
				}
			}
			if _, err := New(c, nil); err == nil {
				t.Error("New accepted an invalid configuration")
			}
		})
	}
}

// TestSessionsObserved: the speaker's own session is exported as metrics
// and findings, and Advertised follows the upstream's Adj-RIB-Out; when the
// upstream shuts the neighbor (a real GoBGP sending Cease/Administrative
// Shutdown), the finding names the NOTIFICATION.
func TestSessionsObserved(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	r := startRouter(t, "127.0.0.1", port, 65010)
	sp := startSpeaker(t, "127.0.0.1", port, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p4, p6 := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::1/128")
	if adv, ok := sp.Advertised(p4); adv || !ok {
		t.Fatalf("Advertised before Announce = %t, %t", adv, ok)
	}
	if err := sp.Announce(ctx, p4, speakers.Attributes{}); err != nil {
		t.Fatal(err)
	}
	if adv, ok := sp.Advertised(p4); !adv || !ok {
		t.Fatalf("Advertised after Announce = %t, %t", adv, ok)
	}
	now := time.Now()
	set, fs, err := observe(ctx, sp, now, []netip.Prefix{p4, p6})
	if err != nil {
		t.Fatal(err)
	}
	text := exposition(t, set)
	for _, want := range []string{
		`anydiag_bgp_session_up{neighbor="127.0.0.1",peer_as="65001",family="ipv4-unicast"} 1`,
		`anydiag_bgp_prefixes_advertised{neighbor="127.0.0.1",peer_as="65001",family="ipv4-unicast"} 1`,
		`anydiag_bgp_session_state{neighbor="127.0.0.1",peer_as="65001",state="Established"} 1`,
		`anydiag_bgp_session_state{neighbor="127.0.0.1",peer_as="65001",state="Idle"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	// The speaker offers only IPv4 to an IPv4 neighbor by default: the IPv6
	// anycast prefix can reach nobody.
	if len(fs) != 1 || fs[0].Code != "bgp.family_not_carried" || fs[0].Subject != "prefix "+p6.String() {
		t.Fatalf("findings with the session up = %+v", fs)
	}

	if err := r.srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bgp.session_down with the NOTIFICATION", func() bool {
		_, fs, err := observe(ctx, sp, time.Now(), []netip.Prefix{p4})
		return err == nil && len(fs) == 1 && fs[0].Code == "bgp.session_down" &&
			strings.Contains(fs[0].Summary, "the peer sent Cease/Administrative Shutdown (6/2)")
	})
	set, _, err = observe(ctx, sp, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	text = exposition(t, set)
	for _, want := range []string{
		`anydiag_bgp_session_up{neighbor="127.0.0.1",peer_as="65001",family="ipv4-unicast"} 0`,
		`anydiag_bgp_session_last_error_info{neighbor="127.0.0.1",peer_as="65001",error="the peer sent Cease/Administrative Shutdown (6/2)"} 1`,
		`anydiag_bgp_session_uptime_seconds{neighbor="127.0.0.1",peer_as="65001"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	if adv, ok := sp.Advertised(p4); adv || !ok {
		t.Errorf("Advertised with the session down = %t, %t", adv, ok)
	}
	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := sp.Advertised(p4); ok {
		t.Error("Advertised after Stop says ok")
	}
}

// exposition writes set as /metrics would and checks it with promtool when
// it is installed.
func exposition(t *testing.T, set *metrics.Set) string {
	t.Helper()
	var buf bytes.Buffer
	if err := prometheus.Write(&buf, false, set); err != nil {
		t.Fatal(err)
	}
	if u := prometheus.Undescribed(set); len(u) > 0 {
		t.Errorf("undescribed families: %v", u)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, buf.String())
		}
	}
	return buf.String()
}

func TestConfigPorts(t *testing.T) {
	n := func(port uint16) Neighbor { return Neighbor{Port: port} }
	for _, tc := range []struct {
		cfg  Config
		want []uint16
	}{
		{Config{ListenPort: 0, Neighbors: []Neighbor{n(0)}}, []uint16{179}},
		{Config{ListenPort: -1, Neighbors: []Neighbor{n(1790), n(0)}}, []uint16{179, 1790}},
		{Config{ListenPort: 11179, Neighbors: []Neighbor{n(1790), n(1790)}}, []uint16{1790, 11179}},
	} {
		if got := tc.cfg.Ports(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Ports = %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

// upstream is a GoBGP standing in for one of two upstream routers of
// different ASes, each waiting for the speaker on its own loopback address.
func upstream(t testing.TB, addr string, asn uint32) (*router, int) {
	t.Helper()
	port := freePort(t, addr)
	srv := server.NewBgpServer(server.LoggerOption(newLogger(slog.New(slog.DiscardHandler), time.Now)))
	go srv.Serve()
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65010},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: addr},
	}}); err != nil {
		t.Fatal(err)
	}
	return &router{srv: srv}, port
}

// TestNoTransitBetweenUpstreams: a route learned from one upstream is not
// passed to another; only the speaker's own prefixes are exported.
func TestNoTransitBetweenUpstreams(t *testing.T) {
	r1, p1 := upstream(t, "127.0.0.2", 65001)
	r2, p2 := upstream(t, "127.0.0.3", 65002)
	addr := func(s string) yamlconf.Addr { return yamlconf.Addr{Addr: netip.MustParseAddr(s)} }
	sp, err := New(Config{ASN: 65010, RouterID: addr("192.0.2.10"), ListenPort: -1, Neighbors: []Neighbor{
		{Address: addr("127.0.0.2"), ASN: 65001, Port: uint16(p1), ConnectRetry: yamlconf.Duration(time.Second)},
		{Address: addr("127.0.0.3"), ASN: 65002, Port: uint16(p2), ConnectRetry: yamlconf.Duration(time.Second)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Stop(context.Background()) })
	waitFor(t, "both sessions established", func() bool {
		ps, err := sp.Peers(ctx)
		return err == nil && len(ps) == 2 && ps[0].Established() && ps[1].Established()
	})
	// Upstream 1 sends a route; the speaker accepts it.
	foreign := netip.MustParsePrefix("203.0.113.0/24")
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: foreign.Addr().String(), PrefixLen: uint32(foreign.Bits())})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "127.0.0.2"})
	if _, err := r1.srv.AddPath(ctx, &api.AddPathRequest{Path: &api.Path{
		Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upstream's route accepted", func() bool {
		ps, err := sp.Peers(ctx)
		return err == nil && ps[0].Accepted == 1
	})
	// The speaker's own prefix goes out to both after it; the foreign one
	// must not have gone to upstream 2 before it.
	own := netip.MustParsePrefix("192.0.2.1/32")
	if err := sp.Announce(ctx, own, speakers.Attributes{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the own prefix at upstream 2", func() bool { return r2.received(t, own) != nil })
	if p := r2.received(t, foreign); p != nil {
		t.Fatalf("upstream 2 received upstream 1's route through the PoP: %s", describe(p))
	}
	ps, err := sp.Peers(ctx)
	if err != nil || ps[0].Advertised != 1 || ps[1].Advertised != 1 {
		t.Fatalf("advertised per neighbor: %+v %v", ps, err)
	}
}

// BenchmarkReceivedTable measures, with 50 000 routes received from an
// upstream: one Observe (what the agent's bgp task runs), one Withdraw and
// Announce cycle, and for comparison GoBGP's own advertised count (ListPeer
// with EnableAdvertised, which rebuilds every neighbor's Adj-RIB-Out from
// the RIB).
func BenchmarkReceivedTable(b *testing.B) {
	r1, p1 := upstream(b, "127.0.0.2", 65001)
	_, p2 := upstream(b, "127.0.0.3", 65002)
	addr := func(s string) yamlconf.Addr { return yamlconf.Addr{Addr: netip.MustParseAddr(s)} }
	sp, err := New(Config{ASN: 65010, RouterID: addr("192.0.2.10"), ListenPort: -1, Neighbors: []Neighbor{
		{Address: addr("127.0.0.2"), ASN: 65001, Port: uint16(p1), ConnectRetry: yamlconf.Duration(time.Second)},
		{Address: addr("127.0.0.3"), ASN: 65002, Port: uint16(p2), ConnectRetry: yamlconf.Duration(time.Second)},
	}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := sp.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sp.Stop(context.Background()) })
	const routes = 50000
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "127.0.0.2"})
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	for i := range routes {
		nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: fmt.Sprintf("10.%d.%d.0", i/256, i%256), PrefixLen: 24})
		if _, err := r1.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL,
			Path: &api.Path{Family: fam, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}}); err != nil {
			b.Fatal(err)
		}
	}
	if err := sp.Announce(ctx, netip.MustParsePrefix("192.0.2.1/32"), speakers.Attributes{}); err != nil {
		b.Fatal(err)
	}
	err = lab.WaitFor(ctx, 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		ps, err := sp.Peers(ctx)
		if err != nil {
			return false, err
		}
		return len(ps) == 2 && ps[0].Accepted == routes, fmt.Errorf("peers %+v", ps)
	})
	if err != nil {
		b.Fatalf("routes not received: %v", err)
	}
	b.Run("Observe", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := observe(ctx, sp, time.Now(), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WithdrawAnnounce", func(b *testing.B) {
		own := netip.MustParsePrefix("192.0.2.1/32")
		for b.Loop() {
			if err := sp.Withdraw(ctx, own); err != nil {
				b.Fatal(err)
			}
			if err := sp.Announce(ctx, own, speakers.Attributes{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoBGPCount", func(b *testing.B) {
		ctl, err := sp.controller()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ctl.Peers(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
