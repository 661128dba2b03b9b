package bird

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/labtest"
)

// popConf: the anycast route lives in its own static protocol, exported
// into the BGP session with the upstream.
const popConf = `router id 192.0.2.10;
protocol device {}
protocol static anycast_v4 {
  ipv4;
  route 192.0.2.1/32 blackhole;
}
protocol static other_v4 {
  ipv4;
  route 192.0.2.128/25 blackhole;
}
protocol bgp up {
  local 198.51.100.2 as 65010;
  neighbor 198.51.100.1 as 65001;
  connect retry time 1;
  ipv4 { import none; export where proto = "anycast_v4" || proto = "other_v4"; };
}
`

func startPop(t *testing.T, ctx context.Context) (*labtest.Env, *Speaker) {
	t.Helper()
	env := labtest.Start(t, ctx, 65010)
	b, err := env.Pop.StartBIRD(ctx, popConf)
	if err != nil {
		t.Fatal(err)
	}
	env.WaitSession(t, ctx, labtest.PopV4)
	sp, err := New(Config{Socket: b.Socket(), BGPProtocols: []string{"up"}, Prefixes: []Prefix{
		{Prefix: yamlconf.Prefix{Prefix: labtest.Prefix4}, Protocol: "anycast_v4"},
		{Prefix: yamlconf.Prefix{Prefix: netip.MustParsePrefix("192.0.2.0/25")}, Protocol: "other_v4"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitHeld(ctx, labtest.Prefix4, true); err != nil {
		t.Fatal(err)
	}
	return env, sp
}

// TestLabWithdrawAnnounce: a real BIRD 2 driven over its control socket,
// observed from a real FRR upstream.
func TestLabWithdrawAnnounce(t *testing.T) {
	labtest.Need(t, "bird")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	env, sp := startPop(t, ctx)
	p := labtest.Prefix4
	other := netip.MustParsePrefix("192.0.2.128/25")
	for _, st := range []struct {
		name string
		do   func() error
		held bool
	}{
		{"withdraw", func() error { return sp.Withdraw(ctx, p) }, false},
		{"withdraw again", func() error { return sp.Withdraw(ctx, p) }, false},
		{"announce", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true},
		{"announce again", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true},
		{"reconfigure keeps it", func() error { return sp.Client().Configure(ctx) }, true},
	} {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if _, err := env.WaitHeld(ctx, p, st.held); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// The other prefix is never touched.
		if _, held, err := env.Held(ctx, other); err != nil || !held {
			t.Fatalf("%s: %s held=%t (%v)", st.name, other, held, err)
		}
	}
	// 192.0.2.0/25 is mapped to other_v4, which originates 192.0.2.128/25
	// instead: disabling it would withdraw that route, so it is refused.
	if err := sp.Withdraw(ctx, netip.MustParsePrefix("192.0.2.0/25")); err == nil {
		t.Error("withdrawing through a protocol that originates another route succeeded")
	} else {
		t.Log(err)
	}
	st, err := sp.State(ctx)
	if err != nil || len(st) != 2 || !st[0].Announced || st[1].Announced {
		t.Fatalf("State = %+v, %v", st, err)
	}
}

// TestLabWithdrawTiming measures Withdraw() to the upstream FRR no longer
// holding the route; set ANYDIAG_SPEAKER_BENCH=1.
func TestLabWithdrawTiming(t *testing.T) {
	if os.Getenv(labtest.BenchEnv) == "" {
		t.Skip("set " + labtest.BenchEnv + "=1 to measure")
	}
	labtest.Need(t, "bird")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env, sp := startPop(t, ctx)
	p := labtest.Prefix4
	env.TimeWithdrawals(t, ctx, "bird", 20, p,
		func(ctx context.Context) error { return sp.Withdraw(ctx, p) },
		func(ctx context.Context) error { return sp.Announce(ctx, p, speakers.Attributes{}) })
}
