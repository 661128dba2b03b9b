package health

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/serve"
)

// Clock is the time source of the runner; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options are the runner's dependencies; every field may be left zero.
type Options struct {
	Clock   Clock
	Metrics *metrics.Set
	Logger  *slog.Logger
	// OnChange is called (from the check's goroutine) when a check's status
	// changes, including to and from unknown on resource exhaustion.
	OnChange func(State)
	// Probers replaces the prober built from the configuration for the named
	// checks; it lets callers plug in probes of their own.
	Probers map[string]Prober
}

// Runner schedules the configured checks and keeps their states.
type Runner struct {
	clock    Clock
	log      *slog.Logger
	onChange func(State)
	checks   []*runCheck

	mu sync.Mutex // guards every runCheck's machine and state
}

type runCheck struct {
	cfg     CheckConfig
	prober  Prober
	machine *Machine
	state   State
	probes  map[bool]*metrics.Counter
	// unknown counts probes that could not run because this process ran
	// out of descriptors or buffers.
	unknown *metrics.Counter
}

// NewRunner builds a runner for cfg, which must have passed Check; Defaults
// is applied to a copy.
func NewRunner(cfg Config, o Options) (*Runner, error) {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg.Checks = append([]CheckConfig(nil), cfg.Checks...)
	cfg.Defaults()
	r := &Runner{clock: o.Clock, log: o.Logger, onChange: o.OnChange}
	for _, c := range cfg.Checks {
		p, ok := o.Probers[c.Name]
		if !ok {
			var err error
			if p, err = NewProber(c); err != nil {
				return nil, fmt.Errorf("health: check %q: %w", c.Name, err)
			}
		}
		rc := &runCheck{
			cfg: c, prober: p, machine: NewMachine(c.Rise, c.Fall),
			state: State{Check: c.Name, Type: c.Type, Status: StatusUnknown, Since: o.Clock.Now()},
		}
		if o.Metrics != nil {
			r.register(o.Metrics, rc)
		}
		r.checks = append(r.checks, rc)
	}
	return r, nil
}

func (r *Runner) register(s *metrics.Set, rc *runCheck) {
	name := rc.cfg.Name
	s.GetOrCreateGauge(prometheus.Name("anydiag_health_check_up", "check", name, "type", rc.cfg.Type), func() float64 {
		switch r.State(name).Status {
		case StatusUp:
			return 1
		case StatusDown:
			return 0
		}
		return -1
	})
	s.GetOrCreateGauge(prometheus.Name("anydiag_health_check_latency_seconds", "check", name), func() float64 {
		return r.State(name).Last.Latency.Seconds()
	})
	rc.probes = map[bool]*metrics.Counter{
		true:  s.GetOrCreateCounter(prometheus.Name("anydiag_health_probes_total", "check", name, "result", "ok")),
		false: s.GetOrCreateCounter(prometheus.Name("anydiag_health_probes_total", "check", name, "result", "fail")),
	}
	rc.unknown = s.GetOrCreateCounter(prometheus.Name("anydiag_health_probes_total", "check", name, "result", "unknown"))
}

// Run probes every check at its interval until ctx ends; it returns when all
// its goroutines have stopped. Each check keeps a fixed phase (ticks at
// start + k×interval) so a slow probe does not make the schedule drift; ticks
// missed while a probe ran are skipped.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, rc := range r.checks {
		wg.Go(func() { r.loop(ctx, rc) })
	}
	wg.Wait()
	return nil
}

func (r *Runner) loop(ctx context.Context, rc *runCheck) {
	interval := rc.cfg.Interval.D()
	next := r.clock.Now()
	for {
		r.probe(ctx, rc)
		now := r.clock.Now()
		for !next.After(now) {
			next = next.Add(interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(next.Sub(now)):
		}
	}
}

// RunOnce probes every check once, in order, and returns the results; it is
// what one-shot commands use.
func (r *Runner) RunOnce(ctx context.Context) []Result {
	out := make([]Result, 0, len(r.checks))
	for _, rc := range r.checks {
		out = append(out, r.probe(ctx, rc))
	}
	return out
}

func (r *Runner) probe(ctx context.Context, rc *runCheck) Result {
	pctx, cancel := context.WithTimeout(ctx, rc.cfg.Timeout.D())
	start := r.clock.Now()
	err := rc.prober.Probe(pctx)
	cancel()
	res := Result{Check: rc.cfg.Name, OK: err == nil, Latency: r.clock.Now().Sub(start), At: start}
	if err != nil {
		res.Error = err.Error()
		// EMFILE and friends say this host is out of descriptors (for
		// example many idle clients on the agent's port), not that the
		// service is down: such a result says nothing about the service,
		// so it is kept out of the rise/fall streak and the check reports
		// unknown until a probe runs again.
		res.Exhausted = serve.ResourceExhausted(err)
	}
	switch {
	case res.Exhausted:
		if rc.unknown != nil {
			rc.unknown.Inc()
		}
	case rc.probes != nil:
		rc.probes[res.OK].Inc()
	}
	r.mu.Lock()
	prev := rc.state.Status
	if !res.Exhausted {
		rc.machine.Observe(res.OK)
		rc.state.Status = rc.machine.Status()
	} else {
		rc.state.Status = StatusUnknown
	}
	rc.state.Successes, rc.state.Failures = rc.machine.Streak()
	rc.state.Last = res
	changed := rc.state.Status != prev
	if changed {
		rc.state.Since = res.At
	}
	st := rc.state
	r.mu.Unlock()
	if changed {
		r.log.Info("health check changed", "check", st.Check, "status", st.Status, "error", res.Error)
		if res.Exhausted {
			r.log.Warn("health check could not probe: this process is out of resources; reporting unknown, not down",
				"check", st.Check, "error", res.Error)
		}
		if r.onChange != nil {
			r.onChange(st)
		}
	}
	return res
}

// State returns one check's state; an unknown name gives StatusUnknown.
func (r *Runner) State(name string) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range r.checks {
		if rc.cfg.Name == name {
			return rc.state
		}
	}
	return State{Check: name, Status: StatusUnknown}
}

// States returns every check's state, sorted by name.
func (r *Runner) States() []State {
	r.mu.Lock()
	out := make([]State, 0, len(r.checks))
	for _, rc := range r.checks {
		out = append(out, rc.state)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Check < out[j].Check })
	return out
}

// Statuses returns each check's status by name: the input the policy reads.
func (r *Runner) Statuses() map[string]Status {
	out := map[string]Status{}
	for _, s := range r.States() {
		out[s.Check] = s.Status
	}
	return out
}

func init() {
	prometheus.Describe("anydiag_health_check_up", prometheus.Gauge, "Health check status: 1 up, 0 down, -1 unknown (before rise or fall consecutive results).")
	prometheus.Describe("anydiag_health_check_latency_seconds", prometheus.Gauge, "Latency of the health check's last probe, in seconds.")
	prometheus.Describe("anydiag_health_probes_total", prometheus.Counter, "Health check probes by result: ok, fail, or unknown (the probe could not run: this process was out of descriptors or buffers).")
}
