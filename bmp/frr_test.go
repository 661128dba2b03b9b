package bmp_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/lab/labtest"
)

const (
	frrV4Routes = 2000
	frrV6Routes = 500
)

// frrAnnouncer is r2's config: networks with route-maps that vary the AS
// path length and the communities.
func frrAnnouncer() string {
	var b strings.Builder
	b.WriteString("router bgp 65001\n bgp router-id 198.51.100.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n")
	b.WriteString(" neighbor 198.51.100.1 remote-as 65000\n neighbor 2001:db8:1::1 remote-as 65000\n")
	b.WriteString(" address-family ipv4 unicast\n  neighbor 198.51.100.1 activate\n")
	for i := 0; i < frrV4Routes; i++ {
		fmt.Fprintf(&b, "  network 10.%d.%d.0/24 route-map RM%d\n", i/256, i%256, i%10)
	}
	b.WriteString(" exit-address-family\n address-family ipv6 unicast\n  neighbor 2001:db8:1::1 activate\n")
	for i := 0; i < frrV6Routes; i++ {
		fmt.Fprintf(&b, "  network 2001:db8:100:%x::/64 route-map RM%d\n", i, i%10)
	}
	b.WriteString(" exit-address-family\n!\n")
	for k := 0; k < 11; k++ {
		fmt.Fprintf(&b, "route-map RM%d permit 10\n", k)
		if k%10 > 0 {
			var path []string
			for j := 0; j < k%10; j++ {
				path = append(path, fmt.Sprint(64512+k*10+j))
			}
			fmt.Fprintf(&b, " set as-path prepend %s\n", strings.Join(path, " "))
		}
		fmt.Fprintf(&b, " set community 65001:%d 65001:100\n set large-community 65001:1:%d\n!\n", k, k)
	}
	return b.String()
}

func frrMonitored(port int) string {
	return fmt.Sprintf(`router bgp 65000
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 198.51.100.2 remote-as 65001
 neighbor 2001:db8:1::2 remote-as 65001
 address-family ipv4 unicast
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.2 soft-reconfiguration inbound
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:1::2 activate
  neighbor 2001:db8:1::2 soft-reconfiguration inbound
 exit-address-family
 bmp targets station
  bmp connect 198.51.100.1 port %d min-retry 100 max-retry 500
  bmp monitor ipv4 unicast pre-policy
  bmp monitor ipv4 unicast post-policy
  bmp monitor ipv6 unicast pre-policy
  bmp monitor ipv6 unicast post-policy
 exit
!
`, port)
}

// vtyshRoutes lists what FRR holds from peer: "prefix path".
func vtyshRoutes(ctx context.Context, t *testing.T, frr *lab.FRR, afi, peer string) []string {
	t.Helper()
	var v struct {
		Routes map[string][]struct {
			Path  string `json:"path"`
			Peers []struct {
				PeerID string `json:"peerId"`
			} `json:"nexthops"`
			PeerID string `json:"peerId"`
		} `json:"routes"`
	}
	if err := frr.VtyshJSON(ctx, "show bgp "+afi+" unicast json", &v); err != nil {
		t.Fatalf("vtysh: %v", err)
	}
	var out []string
	for p, paths := range v.Routes {
		for _, path := range paths {
			if path.PeerID == peer {
				out = append(out, p+" "+path.Path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// stationFRR lists the station's routes of peer in table, without the
// monitored router's own AS that FRR 8.4 puts in front of the AS_PATH of
// the route monitoring messages it sends (see LAB-NOTES.md).
func stationFRR(t *testing.T, c *bmp.Client, peer, table string, v6 bool) []string {
	t.Helper()
	rs, err := c.Routes(context.Background(), bmp.RouteQuery{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.PeerAddress != peer || strings.Contains(r.Prefix, ":") != v6 {
			continue
		}
		path := r.ASPath
		if len(path) > 0 && path[0] == 65000 {
			path = path[1:]
		}
		s := make([]string, len(path))
		for i, a := range path {
			s[i] = fmt.Sprint(a)
		}
		out = append(out, r.Prefix+" "+strings.Join(s, " "))
	}
	sort.Strings(out)
	return out
}

// TestFRRSender runs FRR 8.4 bgpd with -M bmp (r1, AS65000) in a lab
// namespace, fed a few thousand routes by a second FRR (r2, AS65001); the
// station's pre- and post-policy tables must equal what r1's vtysh shows,
// through withdrawals, an attribute change and a peer shutdown.
func TestFRRSender(t *testing.T) {
	labtest.NeedFRR(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := labtest.Up(t, ctx, &lab.Topology{
		Name:  "bmp-frr",
		Nodes: []lab.Node{{Name: "r1"}, {Name: "r2"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Node: "r1", Addrs: []string{"198.51.100.1/24", "2001:db8:1::1/64"}},
			B: lab.Endpoint{Node: "r2", Addrs: []string{"198.51.100.2/24", "2001:db8:1::2/64"}},
		}},
	})

	st, err := bmp.New(bmp.Config{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.Node("r1").Listen("tcp", "198.51.100.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Serve(sctx, ln) }()
	defer func() { scancel(); <-done }()
	hs := httptest.NewServer(st.Handler())
	defer hs.Close()
	client := &bmp.Client{BaseURL: hs.URL}

	r1, err := l.Node("r1").StartFRR(ctx, frrMonitored(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Node("r2").StartFRR(ctx, frrAnnouncer())
	if err != nil {
		t.Fatal(err)
	}

	compare := func(what string, wantV4, wantV6 int) {
		t.Helper()
		for _, fam := range []struct {
			afi, peer string
			v6        bool
			n         int
		}{{"ipv4", "198.51.100.2", false, wantV4}, {"ipv6", "2001:db8:1::2", true, wantV6}} {
			for _, table := range []string{"adj-rib-in-pre", "adj-rib-in-post"} {
				err := lab.WaitFor(ctx, 60*time.Second, 200*time.Millisecond, func() (bool, error) {
					want := vtyshRoutes(ctx, t, r1, fam.afi, fam.peer)
					got := stationFRR(t, client, fam.peer, table, fam.v6)
					if len(want) != fam.n {
						return false, fmt.Errorf("r1 holds %d %s routes, want %d", len(want), fam.afi, fam.n)
					}
					if !slices.Equal(got, want) {
						return false, fmt.Errorf("station %d routes, r1 %d; first station %v, first r1 %v", len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
					}
					return true, nil
				})
				if err != nil {
					t.Fatalf("%s: %s %s: %v\nr1 log: %s", what, fam.afi, table, err, r1.Process().LogTail())
				}
			}
		}
	}
	compare("initial", frrV4Routes, frrV6Routes)

	// Withdrawals and an attribute change at r2.
	cmds := []string{"configure terminal", "router bgp 65001", "address-family ipv4 unicast"}
	for i := 0; i < 100; i++ {
		cmds = append(cmds, fmt.Sprintf("no network 10.%d.%d.0/24", i/256, i%256))
	}
	cmds = append(cmds, "network 10.0.200.0/24 route-map RM10", "exit-address-family", "address-family ipv6 unicast", "no network 2001:db8:100:1::/64", "end")
	if out, err := r2.Vtysh(ctx, cmds...); err != nil {
		t.Fatalf("r2: %v\n%s", err, out)
	}
	compare("after withdrawals and a change", frrV4Routes-100, frrV6Routes-1)
	rs, err := client.Routes(ctx, bmp.RouteQuery{Prefix: netipPrefix("10.0.200.0/24"), Table: "adj-rib-in-post"})
	if err != nil || len(rs) != 1 || !slices.Contains(rs[0].Communities, "65001:10") || !slices.Contains(rs[0].LargeCommunities, "65001:1:10") {
		t.Fatalf("changed route: %+v, %v", rs, err)
	}

	// Shutting the neighbor down on r1: Peer Down, reason shown, routes gone.
	if out, err := r1.Vtysh(ctx, "configure terminal", "router bgp 65000", "neighbor 198.51.100.2 shutdown", "end"); err != nil {
		t.Fatalf("r1: %v\n%s", err, out)
	}
	err = lab.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		ps, err := client.Peers(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range ps {
			if p.PeerAddress == "198.51.100.2" && p.Table == "adj-rib-in-pre" {
				return p.State == "down" && p.Routes == 0 && p.LastDownReason != "", fmt.Errorf("%+v", p)
			}
		}
		return false, fmt.Errorf("peer not listed: %+v", ps)
	})
	if err != nil {
		t.Fatalf("peer down: %v", err)
	}
	ps, _ := client.Peers(ctx)
	for _, p := range ps {
		if p.PeerAddress == "198.51.100.2" {
			t.Logf("peer down reason: %s", p.LastDownReason)
		}
	}
	// The IPv6 session is untouched.
	if n := len(stationFRR(t, client, "2001:db8:1::2", "adj-rib-in-post", true)); n != frrV6Routes-1 {
		t.Errorf("IPv6 peer has %d routes after the IPv4 peer's shutdown, want %d", n, frrV6Routes-1)
	}
}
