package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needBinaries(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if b == "bgpd" {
			if _, err := frrBgpd(); err != nil {
				t.Skip(err)
			}
			continue
		}
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed: %v", b, err)
		}
	}
}

const frrConf = `hostname r1
router bgp 65001
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.51.100.2 remote-as 65002
 neighbor 198.51.100.2 timers connect 1
 address-family ipv4 unicast
  neighbor 198.51.100.2 soft-reconfiguration inbound
 exit-address-family
`

const gobgpConf = `[global.config]
  as = 65002
  router-id = "198.51.100.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.51.100.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
`

// frrPair is FRR in r1 and gobgpd in r2, one link apart.
func frrPair() *Topology {
	return &Topology{
		Name:  "frr-gobgp",
		Nodes: []Node{{Name: "r1"}, {Name: "r2"}},
		Links: []Link{{
			A: Endpoint{Node: "r1", Addrs: []string{"198.51.100.1/24"}},
			B: Endpoint{Node: "r2", Addrs: []string{"198.51.100.2/24"}},
		}},
	}
}

func TestFRRPeersWithGoBGPd(t *testing.T) {
	needRoot(t)
	needBinaries(t, "bgpd", "vtysh", "gobgpd", "gobgp")
	l := up(t, frrPair())
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	frr, err := l.Node("r1").StartFRR(ctx, frrConf)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := l.Node("r2").StartGoBGPd(ctx, gobgpConf)
	if err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, 8*time.Second, 100*time.Millisecond, func() (bool, error) {
		var sum struct {
			IPv4Unicast struct {
				Peers map[string]struct {
					State string `json:"state"`
				} `json:"peers"`
			} `json:"ipv4Unicast"`
		}
		if err := frr.VtyshJSON(ctx, "show bgp summary json", &sum); err != nil {
			return false, err
		}
		st := sum.IPv4Unicast.Peers["198.51.100.2"].State
		return st == "Established", fmt.Errorf("peer 198.51.100.2 state %q", st)
	})
	if err != nil {
		t.Fatalf("session: %v\nbgpd log:\n%s\ngobgpd log:\n%s", err, frr.Process().LogTail(), gb.Process().LogTail())
	}
	if out, err := gb.CLI(ctx, "global", "rib", "add", "-a", "ipv4", "192.0.2.0/24"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	type path struct {
		Path     string `json:"path"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
	}
	var got []path
	err = WaitFor(ctx, 5*time.Second, 100*time.Millisecond, func() (bool, error) {
		var rib struct {
			Routes map[string][]path `json:"routes"`
		}
		if err := frr.VtyshJSON(ctx, "show bgp ipv4 unicast json", &rib); err != nil {
			return false, err
		}
		got = rib.Routes["192.0.2.0/24"]
		return len(got) > 0, fmt.Errorf("192.0.2.0/24 not in FRR's table: %v", rib.Routes)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != "65002" || len(got[0].Nexthops) != 1 || got[0].Nexthops[0].IP != "198.51.100.2" {
		t.Errorf("route 192.0.2.0/24 = %+v, want one path 65002 via 198.51.100.2", got)
	}
}

func TestBIRDStarts(t *testing.T) {
	needRoot(t)
	needBinaries(t, "bird", "birdc")
	l := up(t, twoNodes())
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	b, err := l.Node("a").StartBIRD(ctx, `router id 198.51.100.1;
protocol device {}
protocol static s4 { ipv4; route 192.0.2.0/24 blackhole; }
`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Birdc(ctx, "show route")
	if err != nil || !strings.Contains(string(out), "192.0.2.0/24") {
		t.Errorf("birdc show route: %v\n%s", err, out)
	}
}

func TestStartGoBGPdBadConfigFailsWithLog(t *testing.T) {
	needRoot(t)
	needBinaries(t, "gobgpd", "gobgp")
	l := up(t, twoNodes())
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	_, err := l.Node("a").StartGoBGPd(ctx, "[global.config\nas = = 1\n")
	if err == nil {
		t.Fatal("gobgpd started with a broken config")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "gobgpd.toml") {
		t.Errorf("error does not say the daemon exited, with its log: %v", err)
	}
}

func TestFRRLogsToProcessLog(t *testing.T) {
	needRoot(t)
	needBinaries(t, "bgpd", "vtysh")
	l := up(t, twoNodes())
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Second)
	defer cancel()
	frr, err := l.Node("a").StartFRR(ctx, "router bgp 65001\n bgp router-id 198.51.100.1\n")
	if err != nil {
		t.Fatal(err)
	}
	// A neighbor added over vtysh must reach bgpd's running config and log.
	if out, err := frr.Vtysh(ctx, "configure terminal", "router bgp 65001", "neighbor 198.51.100.2 remote-as 65002", "end"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := frr.Vtysh(ctx, "show running-config")
	if err != nil || !strings.Contains(string(out), "neighbor 198.51.100.2 remote-as 65002") {
		t.Errorf("running config lacks the neighbor: %v\n%s", err, out)
	}
	if _, err := frr.Vtysh(ctx, "show bgp no-such-thing"); err == nil {
		t.Error("vtysh error not reported")
	}
	err = WaitFor(ctx, 5*time.Second, 50*time.Millisecond, func() (bool, error) {
		return strings.Contains(frr.Process().LogTail(), "starting"), fmt.Errorf("bgpd log: %q", frr.Process().LogTail())
	})
	if err != nil {
		t.Error(err)
	}
}
