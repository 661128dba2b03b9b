// Package labtest sets up what every speaker's lab test needs: a node "pop"
// for the speaker and a node "up" running a real FRR bgpd (AS 65001) that
// peers with it over IPv4 and IPv6, plus helpers that watch FRR's table and
// summarise withdrawal timings.
package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/lab/labtest"
)

// Addresses of the two nodes on their link.
const (
	UpV4  = "198.51.100.1"
	PopV4 = "198.51.100.2"
	UpV6  = "2001:db8:ff::1"
	PopV6 = "2001:db8:ff::2"
	UpASN = 65001
)

// Anycast prefixes the tests announce.
var (
	Prefix4 = netip.MustParsePrefix("192.0.2.1/32")
	Prefix6 = netip.MustParsePrefix("2001:db8::1/128")
)

// BenchEnv gates the timing runs: they take a while and assert nothing.
const BenchEnv = "ANYDIAG_SPEAKER_BENCH"

// Need skips the test unless it runs as root with the named binaries.
func Need(t *testing.T, bins ...string) {
	t.Helper()
	labtest.NeedFRR(t, bins...)
}

// Env is a running pop/up lab.
type Env struct {
	Lab *lab.Lab
	Pop *lab.Node
	Up  *lab.Node
	FRR *lab.FRR
}

// Start builds the lab and starts the upstream FRR, which expects the
// speaker's AS to be speakerASN on both sessions. Everything is torn down
// by t.Cleanup.
func Start(t *testing.T, ctx context.Context, speakerASN uint32) *Env {
	t.Helper()
	topo := &lab.Topology{
		Name:  "speaker",
		Nodes: []lab.Node{{Name: "pop"}, {Name: "up"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Node: "up", Addrs: []string{UpV4 + "/24", UpV6 + "/64"}},
			B: lab.Endpoint{Node: "pop", Addrs: []string{PopV4 + "/24", PopV6 + "/64"}},
		}},
	}
	l := labtest.Up(t, ctx, topo)
	frr, err := l.Node("up").StartFRR(ctx, UpstreamConf(speakerASN))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Lab: l, Pop: l.Node("pop"), Up: l.Node("up"), FRR: frr}
}

// UpstreamConf is the upstream router's bgpd.conf.
func UpstreamConf(speakerASN uint32) string {
	return fmt.Sprintf(`hostname up
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor %s remote-as %d
 neighbor %s timers connect 1
 neighbor %s advertisement-interval 0
 neighbor %s remote-as %d
 neighbor %s timers connect 1
 neighbor %s advertisement-interval 0
 address-family ipv4 unicast
  neighbor %s activate
 exit-address-family
 address-family ipv6 unicast
  neighbor %s activate
 exit-address-family
`, UpASN, UpV4, PopV4, speakerASN, PopV4, PopV4, PopV6, speakerASN, PopV6, PopV6, PopV4, PopV6)
}

// WaitSession waits until FRR has the session with addr Established.
func (e *Env) WaitSession(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	fam := "ipv4Unicast"
	if strings.Contains(addr, ":") {
		fam = "ipv6Unicast"
	}
	err := lab.WaitFor(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		var sum map[string]struct {
			Peers map[string]struct {
				State string `json:"state"`
			} `json:"peers"`
		}
		if err := e.FRR.VtyshJSON(ctx, "show bgp summary json", &sum); err != nil {
			return false, err
		}
		st := sum[fam].Peers[addr].State
		return st == "Established", fmt.Errorf("FRR: neighbor %s is %q", addr, st)
	})
	if err != nil {
		t.Fatalf("%v\nbgpd log:\n%s", err, e.FRR.Process().LogTail())
	}
}

// Route is FRR's view of one prefix.
type Route struct {
	Prefix string `json:"prefix"`
	Paths  []struct {
		ASPath struct {
			String string `json:"string"`
		} `json:"aspath"`
		Med         *uint32 `json:"metric"`
		Communities struct {
			String string `json:"string"`
		} `json:"community"`
	} `json:"paths"`
}

// Held reports whether FRR holds a route for exactly prefix.
func (e *Env) Held(ctx context.Context, prefix netip.Prefix) (Route, bool, error) {
	afi := "ipv4"
	if prefix.Addr().Is6() {
		afi = "ipv6"
	}
	var r Route
	err := e.FRR.VtyshJSON(ctx, "show bgp "+afi+" unicast "+prefix.String()+" json", &r)
	return r, err == nil && r.Prefix == prefix.String() && len(r.Paths) > 0, err
}

// WaitHeld polls FRR every 10 ms until it holds (or no longer holds) prefix
// and returns the route it saw last.
func (e *Env) WaitHeld(ctx context.Context, prefix netip.Prefix, want bool) (Route, error) {
	var last Route
	err := lab.WaitFor(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		r, held, err := e.Held(ctx, prefix)
		last = r
		if err != nil {
			return false, err
		}
		return held == want, fmt.Errorf("FRR holds %s: %t, want %t", prefix, held, want)
	})
	return last, err
}

// TimeWithdrawals runs n cycles of withdraw (timed from the call until FRR
// no longer holds the prefix) and announce (untimed, waited for), and logs
// the distribution. It asserts nothing about time.
func (e *Env) TimeWithdrawals(t *testing.T, ctx context.Context, name string, n int, prefix netip.Prefix,
	withdraw, announce func(context.Context) error) {
	t.Helper()
	var gone, returned []time.Duration
	for i := range n {
		start := time.Now()
		if err := withdraw(ctx); err != nil {
			t.Fatalf("run %d: withdraw: %v", i, err)
		}
		returned = append(returned, time.Since(start))
		if _, err := e.WaitHeld(ctx, prefix, false); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		gone = append(gone, time.Since(start))
		if err := announce(ctx); err != nil {
			t.Fatalf("run %d: announce: %v", i, err)
		}
		if _, err := e.WaitHeld(ctx, prefix, true); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	t.Logf("%s: Withdraw() to FRR no longer holding %s, %d runs: p50 %v p99 %v max %v (Withdraw() returned: p50 %v p99 %v)",
		name, prefix, n, Quantile(gone, 0.5), Quantile(gone, 0.99), Quantile(gone, 1),
		Quantile(returned, 0.5), Quantile(returned, 0.99))
}

// Quantile returns the q-quantile (nearest rank) of ds.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)].Round(100 * time.Microsecond)
}
