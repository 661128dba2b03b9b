package pathchoice_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/pathchoice"
	"github.com/anydiag/anydiag/analyzers/visibility"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/lab/labtest"
)

func popConf(addr, upstream string) string {
	return fmt.Sprintf(`[global.config]
  as = 65100
  router-id = "%s"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
`, addr, upstream)
}

// TestLabWhyShorterPath: two PoPs (gobgpd, AS65100) announce 192.0.2.0/24
// to an upstream FRR (AS65001), fra with two prepends; the upstream streams
// BMP to a station in the test, and the explanation over the station's
// routes must name sin and the AS_PATH length.
func TestLabWhyShorterPath(t *testing.T) {
	labtest.NeedFRR(t, "gobgpd", "gobgp")
	l := labtest.Up(t, t.Context(), &lab.Topology{
		Name:  "why",
		Nodes: []lab.Node{{Name: "up"}, {Name: "fra"}, {Name: "sin"}},
		Links: []lab.Link{
			{A: lab.Endpoint{Node: "up", Addrs: []string{"198.51.100.1/30"}}, B: lab.Endpoint{Node: "fra", Addrs: []string{"198.51.100.2/30"}}},
			{A: lab.Endpoint{Node: "up", Addrs: []string{"198.51.100.5/30"}}, B: lab.Endpoint{Node: "sin", Addrs: []string{"198.51.100.6/30"}}},
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	ln, err := l.Node("up").Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := bmp.New(bmp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.Serve(ctx, ln)
	}()
	_, err = l.Node("up").StartFRR(ctx, fmt.Sprintf(`hostname up
router bgp 65001
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 neighbor 198.51.100.2 remote-as 65100
 neighbor 198.51.100.2 timers connect 1
 neighbor 198.51.100.6 remote-as 65100
 neighbor 198.51.100.6 timers connect 1
 address-family ipv4 unicast
  neighbor 198.51.100.2 soft-reconfiguration inbound
  neighbor 198.51.100.6 soft-reconfiguration inbound
 exit-address-family
 bmp targets station
  bmp monitor ipv4 unicast pre-policy
  bmp connect 127.0.0.1 port %d min-retry 100 max-retry 500
 exit
`, ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ node, addr, path string }{{"fra", "198.51.100.2", "65100,65100"}, {"sin", "198.51.100.6", ""}} {
		gb, err := l.Node(p.node).StartGoBGPd(ctx, popConf(p.addr, "198.51.100."+map[string]string{"fra": "1", "sin": "5"}[p.node]))
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"global", "rib", "add", "-a", "ipv4", "192.0.2.0/24"}
		if p.path != "" {
			args = append(args, "aspath", p.path)
		}
		if out, err := gb.CLI(ctx, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	prefix := netip.MustParsePrefix("192.0.2.0/24")
	var routes []visibility.Route
	err = lab.WaitFor(ctx, 25*time.Second, 100*time.Millisecond, func() (bool, error) {
		var rows []bmp.RouteInfo
		if err := st.Routes(bmp.RouteQuery{Prefix: prefix}, func(r bmp.RouteInfo) error { rows = append(rows, r); return nil }); err != nil {
			return false, err
		}
		routes, err = visibility.FromBMP(rows)
		return len(routes) == 2, fmt.Errorf("%d routes for %s at the station: %+v", len(routes), prefix, rows)
	})
	if err != nil {
		t.Fatal(err)
	}
	vis := visibility.Config{PoPs: []visibility.PoP{
		{Name: "fra", Continent: "EU", NextHops: []netip.Addr{netip.MustParseAddr("198.51.100.2")}},
		{Name: "sin", Continent: "AS", NextHops: []netip.Addr{netip.MustParseAddr("198.51.100.6")}},
	}}
	ex := pathchoice.Explain(prefix, routes, nil, vis, pathchoice.Config{Routers: []pathchoice.Router{{Address: "127.0.0.1", Name: "up", Continent: "EU"}}}, time.Now())
	if len(ex.Choices) != 1 {
		t.Fatalf("%d choices: %+v", len(ex.Choices), ex)
	}
	ch := ex.Choices[0]
	t.Logf("%s: %s; remedy: %s", ch.Router, ch.Reason, ch.Remedy)
	if ch.Best.PoP != "sin" || ch.Step != pathchoice.StepASPathLength || ch.Best.PathLength != 1 || ch.Alternatives[0].PathLength != 3 {
		t.Fatalf("choice %+v, want sin by AS_PATH length 1 vs 3", ch)
	}
	var codes []string
	for _, f := range ex.Findings {
		codes = append(codes, f.Code)
	}
	if len(codes) != 2 || codes[0] != "catchment.misdirected_continent" || codes[1] != "bgp.prepend_detected" {
		t.Fatalf("findings %v, want misdirected continent and prepend", codes)
	}
}
