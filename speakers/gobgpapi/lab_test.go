package gobgpapi

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/labtest"
)

const gobgpdConf = `[global.config]
  as = 65010
  router-id = "192.0.2.10"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.51.100.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
`

func startPop(t *testing.T, ctx context.Context) (*labtest.Env, *Speaker) {
	t.Helper()
	env := labtest.Start(t, ctx, 65010)
	g, err := env.Pop.StartGoBGPd(ctx, gobgpdConf)
	if err != nil {
		t.Fatal(err)
	}
	env.WaitSession(t, ctx, labtest.PopV4)
	var cfg Config
	cfg.Address = yamlconf.AddrPort{AddrPort: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", g.APIPort()))}
	// gobgpd's API listens on the node's own loopback.
	sp, err := Dial(ctx, cfg, func(ctx context.Context, addr string) (net.Conn, error) {
		return env.Pop.Dial(ctx, "tcp", addr)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return env, sp
}

// TestLabDebianGoBGPd drives Debian's gobgpd 3.10 over gRPC with the v3.37
// API client, observed from a real FRR upstream.
func TestLabDebianGoBGPd(t *testing.T) {
	labtest.Need(t, "gobgpd", "gobgp")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	env, sp := startPop(t, ctx)
	p := labtest.Prefix4
	med := uint32(200)
	for _, st := range []struct {
		name   string
		do     func() error
		held   bool
		aspath string
	}{
		{"announce", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true, "65010"},
		{"degrade", func() error {
			return sp.Announce(ctx, p, speakers.Attributes{MED: &med, Prepend: 2, Communities: []speakers.Community{speakers.GracefulShutdown}})
		}, true, "65010 65010 65010"},
		{"withdraw", func() error { return sp.Withdraw(ctx, p) }, false, ""},
		{"withdraw again", func() error { return sp.Withdraw(ctx, p) }, false, ""},
		{"announce again", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true, "65010"},
	} {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		err := labtestWait(ctx, env, p, st.held, st.aspath)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	peers, err := sp.Peers(ctx)
	if err != nil || len(peers) != 1 || !peers[0].Established() || peers[0].ASN != 65001 {
		t.Fatalf("Peers = %+v, %v", peers, err)
	}
}

// labtestWait waits for FRR to hold the prefix with the AS path (or not).
func labtestWait(ctx context.Context, env *labtest.Env, p netip.Prefix, held bool, aspath string) error {
	return lab.WaitFor(ctx, 20*time.Second, 10*time.Millisecond, func() (bool, error) {
		r, ok, err := env.Held(ctx, p)
		if err == nil && ok == held && (!held || r.Paths[0].ASPath.String == aspath) {
			return true, nil
		}
		return false, fmt.Errorf("FRR: %+v held=%t err=%v, want held=%t aspath %q", r, ok, err, held, aspath)
	})
}

// TestLabWithdrawTiming measures Withdraw() to the upstream FRR no longer
// holding the route; set ANYDIAG_SPEAKER_BENCH=1.
func TestLabWithdrawTiming(t *testing.T) {
	if os.Getenv(labtest.BenchEnv) == "" {
		t.Skip("set " + labtest.BenchEnv + "=1 to measure")
	}
	labtest.Need(t, "gobgpd", "gobgp")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env, sp := startPop(t, ctx)
	p := labtest.Prefix4
	if err := sp.Announce(ctx, p, speakers.Attributes{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitHeld(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	env.TimeWithdrawals(t, ctx, "gobgpapi (Debian gobgpd)", 20, p,
		func(ctx context.Context) error { return sp.Withdraw(ctx, p) },
		func(ctx context.Context) error { return sp.Announce(ctx, p, speakers.Attributes{}) })
}
