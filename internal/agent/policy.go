package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/exporters/alertmanager"
	"github.com/anydiag/anydiag/exporters/api"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/safefile"
	"github.com/anydiag/anydiag/internal/secret"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/bird"
	"github.com/anydiag/anydiag/speakers/frr"
	"github.com/anydiag/anydiag/speakers/gobgp"
	"github.com/anydiag/anydiag/speakers/gobgpapi"
)

func init() {
	prometheus.Describe("anydiag_policy_evaluations_total", prometheus.Counter,
		"Policy evaluations by trigger: event (a health transition, a change of the findings, an alert, a control request), deadline (hold-down end, hysteresis, alert expiry), interval (the policy.interval safety net), start.")
}

// startHealth runs the health checks, with or without a speaker: their
// metrics and findings are useful on their own. A check that changes state
// publishes its findings and wakes the policy at once.
func startHealth(ctx context.Context, a *Agent, cfg *config.Config, c *part) error {
	if len(cfg.Health.Checks) == 0 {
		return nil
	}
	set := metrics.NewSet()
	c.sets = append(c.sets, &setHolder{set: set})
	var runner *health.Runner
	runner, err := health.NewRunner(cfg.Health, health.Options{Metrics: set, Logger: a.log.With("component", "health"),
		OnChange: func(health.State) {
			a.store.set("health", kindHealth, health.Findings(runner.States()))
			a.wakePolicy()
		}})
	if err != nil {
		return fmt.Errorf("agent: health: %w", err)
	}
	a.runner.Store(runner)
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := runner.Run(hctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("health checks stopped", "err", err)
		}
	})
	c.runner = runner
	c.stops = append(c.stops, func(context.Context) {
		stop()
		wg.Wait()
		a.runner.CompareAndSwap(runner, nil)
		a.store.set("health", kindHealth, nil)
	})
	return nil
}

// policyPart is the running policy: its engine and the loop that feeds it.
type policyPart struct {
	a        *Agent
	eng      *policy.Engine
	stopLoop func()
	loopDone chan struct{}
	once     sync.Once
}

// startPolicy starts the policy engine on the speaker part's speaker, its
// evaluation loop, and mounts the policy, control and webhook APIs. state,
// when not nil, is the previous engine's state (a reload), which wins over
// the state file.
func startPolicy(ctx context.Context, a *Agent, cfg *config.Config, sp *part, c *part, state *policy.State) error {
	if sp == nil || sp.speaker == nil {
		return nil
	}
	token, err := readToken(cfg.Exporters.TokenFile)
	if err != nil {
		return err
	}
	set := metrics.NewSet()
	c.sets = append(c.sets, &setHolder{set: set})
	eng, err := startEngine(ctx, a, cfg, sp, c, set, state)
	if err != nil {
		return err
	}
	pp := startLoop(ctx, a, eng, cfg.Policy.Interval.D())
	c.policy = pp
	c.stops = append(c.stops, func(context.Context) { pp.stop() })
	c.mux.Handle("/api/v1/policy/", eng.Handler())
	api.MountControl(c.mux, eng, token, a.wakePolicy)
	return startWebhook(ctx, a, cfg, eng, set, c)
}

// startEngine builds and starts the engine: the anycast prefixes, the
// canary, the fleet guard, the audit file, and the speaker's view of what
// upstreams hold.
func startEngine(ctx context.Context, a *Agent, cfg *config.Config, sp *part, c *part, set *metrics.Set, state *policy.State) (*policy.Engine, error) {
	opts := policy.Options{Speaker: sp.speaker, Metrics: set, Logger: a.log.With("component", "policy"), Now: a.now, State: state}
	fleet, err := policy.NewFleetCounter(cfg.Policy.FleetGuard, nil)
	if err != nil {
		return nil, fmt.Errorf("agent: fleet guard: %w", err)
	}
	if fleet != nil {
		opts.Fleet = fleet
	}
	if cfg.Policy.AuditFile != "" {
		f, err := safefile.OpenAppend(cfg.Policy.AuditFile)
		if err != nil {
			return nil, fmt.Errorf("agent: policy.audit_file: %w", err)
		}
		opts.Audit = f
		c.stops = append(c.stops, func(context.Context) { f.Close() })
	}
	// The gauge anydiag_policy_announced says whether an upstream can hold
	// the route, not only whether the policy wants it, when the speaker
	// can tell (the embedded GoBGP).
	if adv, ok := sp.speaker.(interface {
		Advertised(netip.Prefix) (bool, bool)
	}); ok {
		opts.Advertised = adv.Advertised
	}
	prefixes := make([]netip.Prefix, 0, len(cfg.Anycast.Prefixes))
	for _, p := range cfg.Anycast.Prefixes {
		prefixes = append(prefixes, p.Prefix)
	}
	pcfg := cfg.Policy
	if !pcfg.Canary.IsValid() && cfg.Anycast.Canary != nil {
		pcfg.Canary = *cfg.Anycast.Canary
	}
	eng, err := policy.NewEngine(pcfg, prefixes, opts)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := eng.Start(ctx); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return eng, nil
}

// startLoop runs the evaluation loop of eng; interval is policy.interval's
// safety net (1s when unset).
func startLoop(ctx context.Context, a *Agent, eng *policy.Engine, interval time.Duration) *policyPart {
	if interval <= 0 {
		interval = time.Second
	}
	lctx, stop := context.WithCancel(ctx)
	pp := &policyPart{a: a, eng: eng, stopLoop: stop, loopDone: make(chan struct{})}
	go func() {
		defer close(pp.loopDone)
		pp.loop(lctx, interval)
	}()
	return pp
}

// startWebhook serves exporters.alertmanager, on its own listener or on the
// agent's port, when configured.
func startWebhook(ctx context.Context, a *Agent, cfg *config.Config, eng *policy.Engine, set *metrics.Set, c *part) error {
	am := cfg.Exporters.Alertmanager
	if am == nil {
		return nil
	}
	amc := *am
	if amc.Node == "" {
		amc.Node = cfg.Node.Name // alerts are applied only when their node label names this node
	}
	rcv, err := alertmanager.New(amc, wakingApplier{eng, a.wakePolicy}, a.log.With("component", "alertmanager"))
	if err != nil {
		return fmt.Errorf("agent: alertmanager webhook: %w", err)
	}
	rcv.Register(set)
	if !am.Listen.IsValid() {
		c.mux.Handle("POST /api/v1/alertmanager", rcv)
		return nil
	}
	ln, err := net.Listen("tcp", am.Listen.String())
	if err != nil {
		return fmt.Errorf("agent: alertmanager webhook: %w", err)
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rcv.Serve(actx, ln) }()
	c.stops = append(c.stops, func(context.Context) { stop(); <-done })
	return nil
}

// loop evaluates the policy whenever an input changes (a health transition,
// a change of the findings, an applied alert, a control request: each sends
// on the agent's wake channel), at the engine's next deadline (hold-down
// end, hysteresis, alert expiry), and on policy.interval as a safety net.
// One goroutine evaluates, so evaluations never overlap.
func (pp *policyPart) loop(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.NewTimer(time.Hour)
	deadline.Stop()
	defer deadline.Stop()
	trigger := "start"
	for {
		pp.evaluate(ctx, trigger)
		if d := pp.eng.NextDeadline(); !d.IsZero() {
			deadline.Reset(max(d.Sub(pp.a.now()), 0))
		} else {
			deadline.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-pp.a.wake:
			trigger = "event"
		case <-deadline.C:
			trigger = "deadline"
		case <-tick.C:
			trigger = "interval"
		}
	}
}

// evaluate feeds the engine the checks' states and the other findings, and
// publishes the policy's own findings.
func (pp *policyPart) evaluate(ctx context.Context, trigger string) {
	a := pp.a
	in := policy.Input{Checks: map[string]string{}, Findings: a.store.policyInput()}
	if r := a.runner.Load(); r != nil {
		for _, st := range r.States() {
			in.Checks[st.Check] = string(st.Status)
		}
	}
	start := a.now()
	pp.eng.Evaluate(ctx, start, in)
	a.self.GetOrCreateCounter(prometheus.Name("anydiag_policy_evaluations_total", "trigger", trigger)).Inc()
	a.onCycle("policy", kindPolicy, pp.eng.Findings(a.now()), nil, a.now().Sub(start))
}

// stop ends the loop and waits for it; an evaluation in flight finishes
// (its speaker calls see the loop's context cancelled).
func (pp *policyPart) stop() {
	pp.once.Do(func() {
		pp.stopLoop()
		<-pp.loopDone
	})
}

// shutdown makes the shutdown decisions and stops the speaker, then audits
// what stopping the speaker really did: the embedded speaker closes its
// sessions, so a withdrawal the fleet guard refused happens anyway; an
// external daemon keeps announcing whatever the engine did not withdraw.
func (pp *policyPart) shutdown(ctx context.Context, sp *part) {
	pp.stop()
	pp.eng.Shutdown(ctx)
	if sp == nil || sp.speaker == nil {
		return
	}
	st, err := sp.speaker.State(ctx)
	if err != nil {
		pp.a.log.Warn("reading the speaker's routes before stopping it", "err", err)
	}
	sp.stop(ctx)
	now := pp.a.now()
	var ds []policy.Decision
	for _, s := range st {
		if !s.Announced || !slices.Contains(pp.eng.Prefixes(), s.Prefix) {
			continue
		}
		d := policy.Decision{Time: now.UTC(), Prefix: s.Prefix, Source: policy.SourceShutdown, Outcome: policy.OutcomeApplied,
			Evidence: map[string]any{"speaker": sp.kind}}
		if sp.kind == "gobgp" {
			d.Action = policy.ActionWithdraw
			d.Reason = "the embedded speaker stopped with the agent and closed its BGP sessions: upstreams no longer hold the route, whatever the policy decided"
		} else {
			d.Action = policy.ActionAnnounce
			d.Reason = fmt.Sprintf("the agent stopped; the %s daemon keeps announcing the route", sp.kind)
		}
		pp.a.log.Warn("shutdown: route state after the speaker stopped", "prefix", s.Prefix, "action", d.Action, "reason", d.Reason)
		ds = append(ds, d)
	}
	pp.eng.AuditSpeakerStop(ds)
}

// wakingApplier wakes the policy loop after the webhook applied alerts, so
// the policy's findings follow at once.
type wakingApplier struct {
	eng  *policy.Engine
	wake func()
}

func (w wakingApplier) ApplyAlerts(ctx context.Context, alerts []policy.Alert) ([]policy.Decision, error) {
	defer w.wake()
	return w.eng.ApplyAlerts(ctx, alerts)
}

// startSpeaker starts the configured speaker and registers its stop and,
// for the GoBGP ones, its per-peer status.
func startSpeaker(ctx context.Context, a *Agent, cfg config.Speaker, c *part) error {
	if cfg.Kind() == "" {
		return nil
	}
	log := a.log.With("component", "speaker")
	type peered interface {
		Peers(context.Context) ([]gobgp.PeerState, error)
	}
	var sp speakers.Speaker
	switch {
	case cfg.GoBGP != nil:
		s, err := gobgp.New(*cfg.GoBGP, log)
		if err != nil {
			return fmt.Errorf("agent: speaker gobgp: %w", err)
		}
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("agent: speaker gobgp: %w", err)
		}
		c.stops = append(c.stops, func(ctx context.Context) {
			if err := s.Stop(ctx); err != nil {
				a.log.Error("speaker stop", "err", err)
			}
		})
		sp = s
		c.tasks = append(c.tasks, bgpSessionsTask(a, s, c.newSet()))
	case cfg.GoBGPAPI != nil:
		s, err := gobgpapi.Dial(ctx, *cfg.GoBGPAPI, nil, log)
		if err != nil {
			return fmt.Errorf("agent: speaker gobgpapi: %w", err)
		}
		c.stops = append(c.stops, func(context.Context) { s.Close() })
		sp = s
	case cfg.BIRD != nil:
		s, err := bird.New(*cfg.BIRD, log)
		if err != nil {
			return fmt.Errorf("agent: speaker bird: %w", err)
		}
		sp = s
	case cfg.FRR != nil:
		s, err := frr.New(*cfg.FRR, log)
		if err != nil {
			return fmt.Errorf("agent: speaker frr: %w", err)
		}
		sp = s
	}
	c.speaker, c.kind = sp, cfg.Kind()
	if pr, ok := sp.(peered); ok {
		c.status = func() any {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			peers, err := pr.Peers(sctx)
			if err != nil {
				return map[string]any{"speaker": cfg.Kind(), "speaker_error": err.Error()}
			}
			return map[string]any{"speaker": cfg.Kind(), "bgp_peers": peers}
		}
	} else {
		c.status = func() any { return map[string]any{"speaker": cfg.Kind()} }
	}
	return nil
}

// readToken reads the control API's bearer token with the rules of every
// secret: a regular file, not a symlink, mode 0600, at least 16 bytes.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	t, err := secret.Read(path, "exporters.token_file")
	if err != nil {
		return "", fmt.Errorf("agent: %w", err)
	}
	return t, nil
}
