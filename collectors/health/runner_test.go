package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// fakeClock advances only when the test says so; After reports each wait on
// waits so the test knows the runner is parked before it advances.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	waits   chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waits <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// scripted returns the results of a script in order, taking latency of
// simulated time per probe.
type scripted struct {
	clock   *fakeClock
	latency time.Duration
	mu      sync.Mutex
	script  string
}

func (s *scripted) Probe(context.Context) error {
	s.mu.Lock()
	r := s.script[0]
	s.script = s.script[1:]
	s.mu.Unlock()
	s.clock.Advance(s.latency)
	if r == '-' {
		return errors.New("scripted failure")
	}
	return nil
}

func TestRunnerSchedulesAndAppliesHysteresis(t *testing.T) {
	clk := newFakeClock()
	start := clk.Now()
	changes := make(chan State, 8)
	set := metrics.NewSet()
	cfg := Config{Checks: []CheckConfig{{Name: "web", Type: TypeTCP, Address: "127.0.0.1:1",
		Interval: yamlconf.Duration(2 * time.Second), Timeout: yamlconf.Duration(time.Second), Rise: 2, Fall: 2}}}
	prober := &scripted{clock: clk, latency: 300 * time.Millisecond, script: "++--+"}
	r, err := NewRunner(cfg, Options{Clock: clk, Metrics: set, Probers: map[string]Prober{"web": prober},
		OnChange: func(s State) { changes <- s }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()

	wantStatus := []Status{StatusUnknown, StatusUp, StatusUp, StatusDown, StatusDown}
	for i, want := range wantStatus {
		// Fixed phase: each probe took 300ms, so the runner waits the rest of the interval.
		if d := <-clk.waits; d != 1700*time.Millisecond {
			t.Fatalf("probe %d: runner waits %s, want 1.7s", i, d)
		}
		st := r.State("web")
		if st.Status != want {
			t.Fatalf("after probe %d: status %s, want %s", i, st.Status, want)
		}
		if st.Last.Latency != 300*time.Millisecond {
			t.Fatalf("latency %s, want 300ms", st.Last.Latency)
		}
		if wantAt := start.Add(time.Duration(i) * 2 * time.Second); !st.Last.At.Equal(wantAt) {
			t.Fatalf("probe %d ran at %s, want %s", i, st.Last.At, wantAt)
		}
		if i < len(wantStatus)-1 {
			clk.Advance(1700 * time.Millisecond)
		}
	}
	cancel()
	<-done

	if s := <-changes; s.Status != StatusUp || !s.Since.Equal(start.Add(2*time.Second)) {
		t.Fatalf("first change %+v, want up since +2s", s)
	}
	if s := <-changes; s.Status != StatusDown || !s.Since.Equal(start.Add(6*time.Second)) {
		t.Fatalf("second change %+v, want down since +6s", s)
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	for _, want := range []string{
		`anydiag_health_check_up{check="web",type="tcp"} 0`,
		`anydiag_health_probes_total{check="web",result="ok"} 3`,
		`anydiag_health_probes_total{check="web",result="fail"} 2`,
		`anydiag_health_check_latency_seconds{check="web"} 0.3`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
	if got := r.Statuses(); got["web"] != StatusDown {
		t.Fatalf("Statuses %v", got)
	}
}

func TestRunnerSkipsMissedTicks(t *testing.T) {
	clk := newFakeClock()
	cfg := Config{Checks: []CheckConfig{{Name: "slow", Type: TypeTCP, Address: "127.0.0.1:1",
		Interval: yamlconf.Duration(time.Second), Timeout: yamlconf.Duration(time.Second)}}}
	// A probe taking 2.5 intervals: the next tick is at +3s, 0.5s away.
	prober := &scripted{clock: clk, latency: 2500 * time.Millisecond, script: "+"}
	r, err := NewRunner(cfg, Options{Clock: clk, Probers: map[string]Prober{"slow": prober}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	if d := <-clk.waits; d != 500*time.Millisecond {
		t.Fatalf("runner waits %s, want 500ms", d)
	}
	cancel()
	<-done
}

func TestRunOnce(t *testing.T) {
	cfg := Config{Checks: []CheckConfig{{Name: "closed", Type: TypeTCP, Address: closedPort(t), Timeout: yamlconf.Duration(time.Second)}}}
	r, err := NewRunner(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.RunOnce(context.Background())
	if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Error, "refused") {
		t.Fatalf("RunOnce = %+v", res)
	}
}

// errProber returns the errors it is given, one per probe.
type errProber struct{ errs []error }

func (p *errProber) Probe(context.Context) error {
	err := p.errs[0]
	p.errs = p.errs[1:]
	return err
}

// A probe that fails because this process is out of descriptors says
// nothing about the service: the check reports unknown, never down, and the
// streak is untouched, so the next real result decides again.
func TestRunnerResourceExhaustionIsUnknownNeverDown(t *testing.T) {
	emfile := fmt.Errorf("tcp: dial tcp 127.0.0.1:80: socket: %w", syscall.EMFILE)
	refused := fmt.Errorf("tcp: dial: %w", syscall.ECONNREFUSED)
	tests := []struct {
		name   string
		errs   []error
		want   []Status
		probes map[string]float64
	}{
		{"up then exhausted then up", []error{nil, emfile, emfile, nil},
			[]Status{StatusUp, StatusUnknown, StatusUnknown, StatusUp}, map[string]float64{"ok": 2, "unknown": 2}},
		{"exhausted never counts toward fall", []error{nil, emfile, refused, emfile, refused},
			[]Status{StatusUp, StatusUnknown, StatusUp, StatusUnknown, StatusDown}, map[string]float64{"ok": 1, "fail": 2, "unknown": 2}},
		{"ENFILE and ENOBUFS too", []error{fmt.Errorf("x: %w", syscall.ENFILE), fmt.Errorf("x: %w", syscall.ENOBUFS)},
			[]Status{StatusUnknown, StatusUnknown}, map[string]float64{"unknown": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := metrics.NewSet()
			var changes []State
			r, err := NewRunner(Config{Checks: []CheckConfig{{Name: "svc", Type: TypeTCP, Address: "127.0.0.1:1", Rise: 1, Fall: 2}}},
				Options{Metrics: set, Logger: slog.New(slog.DiscardHandler), OnChange: func(s State) { changes = append(changes, s) },
					Probers: map[string]Prober{"svc": &errProber{errs: tt.errs}}})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				res := r.RunOnce(context.Background())[0]
				st := r.State("svc")
				if st.Status != want {
					t.Fatalf("probe %d (%v): status %s, want %s", i, tt.errs[i], st.Status, want)
				}
				if res.Exhausted != (want == StatusUnknown) || st.Last.Exhausted != res.Exhausted {
					t.Fatalf("probe %d: exhausted %t", i, res.Exhausted)
				}
			}
			for _, c := range changes {
				if c.Status == StatusDown && c.Last.Exhausted {
					t.Fatalf("a resource-exhausted probe made the check down: %+v", c)
				}
			}
			var b strings.Builder
			set.WritePrometheus(&b)
			for result, n := range tt.probes {
				line := fmt.Sprintf(`anydiag_health_probes_total{check="svc",result=%q} %g`, result, n)
				if !strings.Contains(b.String(), line) {
					t.Errorf("missing %s in\n%s", line, b.String())
				}
			}
		})
	}
}
