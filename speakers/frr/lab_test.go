package frr

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/labtest"
)

// popConf is the FRR of the PoP whose network statements the speaker edits.
const popConf = `hostname pop
router bgp 65010
 bgp router-id 192.0.2.10
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.51.100.1 remote-as 65001
 neighbor 198.51.100.1 timers connect 1
 neighbor 198.51.100.1 advertisement-interval 0
`

func startPop(t *testing.T, ctx context.Context) (*labtest.Env, *lab.FRR, *Speaker) {
	t.Helper()
	env := labtest.Start(t, ctx, 65010)
	pop, err := env.Pop.StartFRR(ctx, popConf)
	if err != nil {
		t.Fatal(err)
	}
	env.WaitSession(t, ctx, labtest.PopV4)
	sp, err := New(Config{VtySocket: pop.Dir(), ASN: 65010,
		Neighbors: []yamlconf.Addr{{Addr: netip.MustParseAddr(labtest.UpV4)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env, pop, sp
}

// TestLabWithdrawAnnounce: a real FRR (pop) edited through vtysh, observed
// from a second real FRR (up).
func TestLabWithdrawAnnounce(t *testing.T) {
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	env, _, sp := startPop(t, ctx)
	p := labtest.Prefix4
	steps := []struct {
		name string
		do   func() error
		held bool
	}{
		{"announce", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true},
		{"announce again", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true},
		{"withdraw", func() error { return sp.Withdraw(ctx, p) }, false},
		{"withdraw again", func() error { return sp.Withdraw(ctx, p) }, false},
		{"announce after withdraw", func() error { return sp.Announce(ctx, p, speakers.Attributes{}) }, true},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		r, err := env.WaitHeld(ctx, p, st.held)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.held && r.Paths[0].ASPath.String != "65010" {
			t.Errorf("%s: AS path %q, want 65010", st.name, r.Paths[0].ASPath.String)
		}
	}
	if st, err := sp.State(ctx); err != nil || len(st) != 1 || !st[0].Announced {
		t.Fatalf("State = %+v, %v", st, err)
	}
	if err := sp.Announce(ctx, p, speakers.Attributes{Prepend: 1}); !errors.Is(err, speakers.ErrUnsupported) {
		t.Errorf("a degraded announcement: %v, want speakers.ErrUnsupported", err)
	}
}

// TestLabErrors: what FRR refuses comes back as an error that says so.
func TestLabErrors(t *testing.T) {
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	_, pop, _ := startPop(t, ctx)
	wrongAS, err := New(Config{VtySocket: pop.Dir(), ASN: 65099}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = wrongAS.Announce(ctx, labtest.Prefix4, speakers.Attributes{})
	if err == nil || !strings.Contains(err.Error(), "65010") {
		t.Errorf("announce into the wrong AS: %v", err)
	}
	noSocket, _ := New(Config{VtySocket: filepath.Join(t.TempDir(), "none"), ASN: 65010}, nil)
	if err := noSocket.Withdraw(ctx, labtest.Prefix4); err == nil {
		t.Error("withdraw without a bgpd succeeded")
	}
}

// TestLabWithdrawTiming measures Withdraw() to the upstream FRR no longer
// holding the route; set ANYDIAG_SPEAKER_BENCH=1.
func TestLabWithdrawTiming(t *testing.T) {
	if os.Getenv(labtest.BenchEnv) == "" {
		t.Skip("set " + labtest.BenchEnv + "=1 to measure")
	}
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env, _, sp := startPop(t, ctx)
	p := labtest.Prefix4
	if err := sp.Announce(ctx, p, speakers.Attributes{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitHeld(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	env.TimeWithdrawals(t, ctx, "frr", 20, p,
		func(ctx context.Context) error { return sp.Withdraw(ctx, p) },
		func(ctx context.Context) error { return sp.Announce(ctx, p, speakers.Attributes{}) })
}
