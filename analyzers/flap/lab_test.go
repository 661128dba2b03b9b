package flap_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/lab/labtest"
)

const gobgpConf = `[global.config]
  as = 65002
  router-id = "198.51.100.2"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.51.100.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
`

func frrConf(bmpPort int) string {
	return fmt.Sprintf(`hostname r1
router bgp 65001
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 neighbor 198.51.100.2 remote-as 65002
 neighbor 198.51.100.2 timers connect 1
 address-family ipv4 unicast
  neighbor 198.51.100.2 soft-reconfiguration inbound
 exit-address-family
 bmp targets station
  bmp monitor ipv4 unicast pre-policy
  bmp connect 127.0.0.1 port %d min-retry 100 max-retry 500
 exit
`, bmpPort)
}

// TestLabFlapFromFRRBMP: gobgpd (AS65002) announces and withdraws
// 192.0.2.0/24 three times to FRR (AS65001), which streams BMP pre-policy to
// a station in the same test; the tracker fed from the station's events must
// hold the Cisco penalty computed from the withdrawal times, and the finding
// must be there within one second of each event's arrival.
func TestLabFlapFromFRRBMP(t *testing.T) {
	labtest.NeedFRR(t, "gobgpd", "gobgp")
	l := labtest.Up(t, t.Context(), &lab.Topology{
		Name:  "flap",
		Nodes: []lab.Node{{Name: "r1"}, {Name: "r2"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Node: "r1", Addrs: []string{"198.51.100.1/24"}},
			B: lab.Endpoint{Node: "r2", Addrs: []string{"198.51.100.2/24"}},
		}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()

	ln, err := l.Node("r1").Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := bmp.New(bmp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := st.Subscribe(4096)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		st.Serve(ctx, ln)
	}()

	set, err := flap.NewSet(dampening.Cisco)
	if err != nil {
		t.Fatal(err)
	}
	tracker, _ := set.Tracker("cisco")
	own := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	var mu sync.Mutex
	var applied []flap.Event
	var worstLatency time.Duration
	go func() {
		defer wg.Done()
		defer unsubscribe()
		flap.Feed(ctx, events, set, flap.FeedOptions{Observed: func(ev flap.Event, arrival time.Time) {
			// What an API reader would get right now: the findings.
			tracker.Findings(time.Now(), own)
			lat := time.Since(arrival)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, ev)
			worstLatency = max(worstLatency, lat)
		}})
	}()

	if _, err := l.Node("r1").StartFRR(ctx, frrConf(ln.Addr().(*net.TCPAddr).Port)); err != nil {
		t.Fatal(err)
	}
	gb, err := l.Node("r2").StartGoBGPd(ctx, gobgpConf)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the BMP peer up of the session with gobgpd.
	err = lab.WaitFor(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) {
		for _, p := range st.Peers() {
			if p.PeerAddress == "198.51.100.2" && p.State == "up" {
				return true, nil
			}
		}
		return false, fmt.Errorf("no BMP peer up for 198.51.100.2: %+v", st.Peers())
	})
	if err != nil {
		t.Fatal(err)
	}
	waitKind := func(k flap.Kind, n int) {
		t.Helper()
		err := lab.WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			c := 0
			for _, e := range applied {
				if e.Kind == k && e.Prefix == own[0] {
					c++
				}
			}
			return c >= n, fmt.Errorf("%d %s events, want %d", c, k, n)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const flaps = 3
	for i := 1; i <= flaps; i++ {
		if out, err := gb.CLI(ctx, "global", "rib", "add", "-a", "ipv4", "192.0.2.0/24"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		waitKind(flap.Announce, i)
		if out, err := gb.CLI(ctx, "global", "rib", "del", "-a", "ipv4", "192.0.2.0/24"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		waitKind(flap.Withdraw, i)
	}

	mu.Lock()
	var withdrawals []time.Time
	for _, e := range applied {
		if e.Kind == flap.Withdraw && e.Prefix == own[0] {
			withdrawals = append(withdrawals, e.Time)
		}
	}
	lat := worstLatency
	mu.Unlock()
	last := withdrawals[len(withdrawals)-1]
	// Cisco: 1000 per withdrawal, nothing per re-advertisement, each decayed
	// by 2^(-(last - t_i)/900 s) to the last withdrawal.
	want := 0.0
	for _, w := range withdrawals {
		want += 1000 * math.Exp2(-last.Sub(w).Seconds()/900)
	}
	// FRR's BMP session comes from 127.0.0.1 inside r1: that is the router's name.
	got, ok := tracker.Lookup("127.0.0.1", "198.51.100.2", own[0], last)
	if !ok || math.Abs(got.Penalty-want) > 1e-6 || !got.Suppressed || got.Flaps != flaps {
		t.Fatalf("penalty %+v, want %.6f from withdrawals at %v, suppressed, %d flaps", got, want, withdrawals, flaps)
	}
	fs := tracker.Findings(last, own)
	if len(fs) != 1 || fs[0].Code != "bgp.prefix_dampened" {
		t.Fatalf("findings %+v, want one bgp.prefix_dampened", fs)
	}
	t.Logf("penalty %.3f (want %.3f), reuse in %s; worst arrival→finding latency %s", got.Penalty, want, got.ReuseIn().Round(time.Second), lat)
	if lat > time.Second {
		t.Errorf("a finding took %s after its BMP event arrived, want under 1 s", lat)
	}
}
