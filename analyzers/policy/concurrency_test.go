package policy

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/anydiag/anydiag/speakers"
)

// gatedSpeaker is a speaker whose Withdraw blocks until released, like a
// speaker waiting up to 10 s for its daemon to confirm; it records how many
// calls were in flight at once.
type gatedSpeaker struct {
	*fakeSpeaker
	entered  chan netip.Prefix
	release  chan struct{}
	inflight atomic.Int32
	peak     atomic.Int32
}

func (g *gatedSpeaker) Withdraw(ctx context.Context, p netip.Prefix) error {
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	for {
		old := g.peak.Load()
		if n <= old || g.peak.CompareAndSwap(old, n) {
			break
		}
	}
	g.entered <- p
	<-g.release
	return g.fakeSpeaker.Withdraw(ctx, p)
}

// While a withdrawal waits on the speaker, the metrics, Explain, Findings and
// NextDeadline answer, and a second decision for the same prefix waits for
// the first instead of calling the speaker concurrently.
func TestNoSpeakerIOUnderLock(t *testing.T) {
	g := &gatedSpeaker{fakeSpeaker: newFakeSpeaker(), entered: make(chan netip.Prefix), release: make(chan struct{})}
	g.routes[pfx], g.routes[pfx2] = speakers.Attributes{}, speakers.Attributes{}
	set := metrics.NewSet()
	e, err := NewEngine(Config{Rules: withdrawOnWebDown(pfx)}, []netip.Prefix{pfx, pfx2},
		Options{Speaker: g, Metrics: set, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.Evaluate(ctx, t0, webDown()) }()
	if p := <-g.entered; p != pfx {
		t.Fatalf("withdrawing %s, want %s", p, pfx)
	}
	// A manual withdrawal of the same prefix now queues behind it.
	manual := make(chan Decision, 1)
	go func() {
		defer wg.Done()
		d, _ := e.ManualWithdraw(ctx, pfx, "second request")
		manual <- d
	}()

	// The withdrawal is in flight: everything read-only answers now. (A
	// deadlock here fails the test by its timeout.)
	var b strings.Builder
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), `anydiag_policy_announced{prefix="192.0.2.1/32"} 1`) {
		t.Fatalf("gauge during the withdrawal:\n%s", b.String())
	}
	x := e.Explain(ctx, t0)
	if x.Prefixes[0].Want != ActionWithdraw || !x.Prefixes[0].Announced {
		t.Fatalf("explain during the withdrawal %+v", x.Prefixes[0])
	}
	_ = e.Findings(t0)
	_ = e.NextDeadline()

	close(g.release)
	wg.Wait()
	d := <-manual
	if d.Outcome != OutcomeUnchanged {
		t.Fatalf("the queued manual withdraw saw %+v, want unchanged (already withdrawn when its turn came)", d)
	}
	if g.peak.Load() != 1 {
		t.Fatalf("%d speaker calls in flight at once, want 1", g.peak.Load())
	}
	b.Reset()
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), `anydiag_policy_announced{prefix="192.0.2.1/32"} 0`) {
		t.Fatalf("gauge after the withdrawal:\n%s", b.String())
	}
}

// The fleet counter (an HTTP call of up to 5 s) is asked with no lock held.
type gatedFleet struct {
	entered chan struct{}
	release chan struct{}
}

func (f *gatedFleet) Announcing(context.Context, netip.Prefix) (int, error) {
	f.entered <- struct{}{}
	<-f.release
	return 5, nil
}

func TestFleetCountOutsideLock(t *testing.T) {
	f := &gatedFleet{entered: make(chan struct{}), release: make(chan struct{})}
	cfg := Config{Rules: withdrawOnWebDown(pfx), FleetGuard: FleetGuardConfig{MinAnnouncing: 2, Source: SourceBMP, URL: "http://127.0.0.1:1"}}
	h := newHarness(t, cfg, f)
	h.eval(0, webUp())
	done := make(chan *Decision)
	go func() { done <- h.eval(0, webDown()) }()
	<-f.entered
	_ = h.e.Findings(h.now)
	var b strings.Builder
	h.set.WritePrometheus(&b)
	close(f.release)
	expect(t, <-done, ActionWithdraw, OutcomeApplied, "")
}

// A manual withdrawal refused by a guard keeps no hold: nothing withdraws
// the prefix later behind the operator's back, and the reply says so.
func TestRefusedManualWithdrawKeepsNoHold(t *testing.T) {
	fleet := &fakeFleet{n: 2}
	cfg := Config{FleetGuard: FleetGuardConfig{MinAnnouncing: 2, Source: SourceBMP, URL: "http://127.0.0.1:1"}}
	h := newHarness(t, cfg, fleet)
	h.eval(0, Input{})
	ctx := context.Background()
	for range 2 { // the second time the refusal is not news, and still not kept
		d, err := h.e.ManualWithdraw(ctx, pfx, "maintenance")
		if err != nil {
			t.Fatal(err)
		}
		if d.Outcome != OutcomeRefused || d.Guard != GuardFleet || !strings.Contains(d.Reason, "the manual hold was not kept") {
			t.Fatalf("decision %+v", d)
		}
		if s := d.Summary(); !strings.Contains(s, "withdraw refused by fleet_guard") || !strings.Contains(s, "192.0.2.1/32") {
			t.Fatalf("summary %q", s)
		}
	}
	if x := h.e.Explain(ctx, h.now); len(x.Prefixes[0].Holds) != 0 {
		t.Fatalf("hold left behind: %v", x.Prefixes[0].Holds)
	}
	fleet.n = 5
	expect(t, h.eval(time.Minute, Input{}), "", "", "")
	if !h.sp.announced(pfx) {
		t.Fatal("the refused manual withdrawal acted later on its own")
	}
	// Drain is different: the drain file stays, and the reply says it acts later.
	fleet.n = 2
	ds, err := h.e.Drain(ctx)
	if err != nil || len(ds) != 2 || !strings.Contains(ds[0].Reason, "the drain stays") {
		t.Fatalf("drain %v %+v", err, ds)
	}
	if _, err := h.e.Undrain(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := h.e.ManualAnnounce(ctx, pfx)
	if err != nil || d.Outcome != OutcomeUnchanged || d.Time.IsZero() {
		t.Fatalf("announce of an announced prefix: %v %+v", err, d)
	}
}

// With Options.Advertised, the announced gauge needs the speaker to have
// sent the route to an established neighbor too.
func TestAnnouncedGaugeNeedsAdvertised(t *testing.T) {
	adv, ok := false, true
	set := metrics.NewSet()
	sp := newFakeSpeaker()
	e, err := NewEngine(Config{}, []netip.Prefix{pfx}, Options{Speaker: sp, Metrics: set, Logger: slog.New(slog.DiscardHandler),
		Advertised: func(netip.Prefix) (bool, bool) { return adv, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Evaluate(context.Background(), t0, Input{})
	for _, tt := range []struct {
		adv, ok bool
		want    string
	}{{false, true, "0"}, {true, true, "1"}, {false, false, "1"}} {
		adv, ok = tt.adv, tt.ok
		var b strings.Builder
		set.WritePrometheus(&b)
		if !strings.Contains(b.String(), `anydiag_policy_announced{prefix="192.0.2.1/32"} `+tt.want) {
			t.Errorf("advertised %v ok %v: want gauge %s:\n%s", tt.adv, tt.ok, tt.want, b.String())
		}
	}
}
