// Package agent is `anydiag agent`: it runs the configured collectors on
// their intervals, the analyzers, the policy and the speaker, and serves
// /metrics, /healthz, /api/v1/findings, /api/v1/status and the APIs of the
// enabled components. It owns every goroutine it starts.
//
// The agent only wires. Each signal's package owns what is known about it:
// a collector reads and exports its metrics (collectors/thermal's
// metrics.go), an analyzer judges and mints its findings
// (analyzers/thresholds, health.Findings, session.FromBMP,
// flap.Set.Evaluate), the JSON API is exporters/api. The agent schedules
// the tasks (tasks.go), keeps the findings (findings.go: the policy's input
// is chosen by kind), and starts and stops the parts a configuration asks
// for (components.go).
//
// Adding a host collector, say collectors/fans, takes its own folder, one
// field in internal/config and two lines in hostTasks:
//
//  1. The folder: fans.New(...) and Collect() (fans.Sample, error);
//     metrics.go describing its families in init() (prometheus.Describe)
//     and converting a sample, fans.Metrics(fans.Sample) *metrics.Set;
//     config.go with fans.Config for its section (Enabled, Interval and its
//     own keys), a Defaults() method and, when a key can be wrong, a
//     Check(p *yamlconf.Problems, path string) method, as thermal.Config
//     and host.Config have; a README with a Configuration section (its
//     YAML block is decoded and validated by internal/config's
//     TestREADMEConfigBlocksValidate) and its metrics. The folder imports
//     neither internal/config nor an analyzer. Judging a sample is an
//     analyzer's job: a method of analyzers/thresholds taking the previous
//     and the current sample and minting the findings, whose codes go in
//     internal/finding's catalogue.yaml. A metric of the judgement rather
//     than of the sample is described there too, as
//     thresholds.PrerequisiteMetrics describes anydiag_host_prerequisite_ok.
//
//  2. Its section: one field of internal/config's Collectors,
//     Fans fans.Config with the yaml tag "fans". Collectors.each runs its
//     Defaults and Check at "collectors.fans"; nothing else there changes.
//
//  3. In hostTasks (host.go), the collector, fansCol := fans.New(...), and
//     its entry, one statement:
//
//     add(cc.Fans.Enabled, sampled[fans.Sample]{name: "fans", every: cc.Fans.Interval,
//     read: func(context.Context) (fans.Sample, error) { return fansCol.Collect() },
//     export: fans.Metrics, judge: (*thresholds.Analyzer).Fans}.bind(c, an))
//
//     export may be left out when samples are only judged, and verdict
//     set when the judgement has metrics of its own (the host entry does
//     both).
//
// The sampled task does the rest: the interval and timeout, the metric set
// replaced on every run (vanished devices lose their series), the previous
// sample kept for judge, the verdict set replaced after every judged run
// (TestSampledTask, TestSampledVerdict). For every task the agent sets
// anydiag_collector_up and mints collector.failed on errors (onCycle), and
// TestEveryDescribedFamilyPassesPromtoolLint lints every described family.
package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/exporters/api"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/serve"
)

func init() {
	prometheus.Describe("anydiag_config_reloads_total", prometheus.Counter,
		"Configuration reloads requested with SIGHUP, by result (applied or rejected).")
	prometheus.Describe("anydiag_config_last_reload_successful", prometheus.Gauge,
		"1 if the last configuration reload was applied, 0 if the new file was rejected and the old one kept.")
	prometheus.Describe("anydiag_collector_up", prometheus.Gauge,
		"1 if the collector's last run succeeded, 0 if it failed or hung.")
	prometheus.Describe("anydiag_collector_duration_seconds", prometheus.Gauge,
		"Duration of the collector's last run.")
	prometheus.Describe("anydiag_collector_failures_total", prometheus.Counter,
		"Collector runs that failed or hung.")
	prometheus.Describe("anydiag_build_info", prometheus.Gauge,
		"Always 1, labelled with the agent's version and node identity.")
}

// Options are the agent's dependencies; zero values mean the real ones.
type Options struct {
	ConfigPath string
	Version    string
	Now        func() time.Time
	Log        *slog.Logger
	// Listener replaces the configured listen address (tests).
	Listener net.Listener
	// Limits of the HTTP server; zero fields take serve.DefaultLimits.
	Limits serve.Limits
}

// Agent is a running anydiag agent.
type Agent struct {
	opts  Options
	now   func() time.Time
	log   *slog.Logger
	cfg   atomic.Pointer[config.Config]
	store *findingStore
	self  *metrics.Set

	reload   chan chan error
	inflight sync.Map // task name → *atomic.Bool, see scheduler.inflight
	sched    *scheduler

	// wake asks the policy loop to evaluate now; its buffer of one
	// coalesces a burst of events into one evaluation.
	wake chan struct{}
	// runner is the running health checks' runner, read by the policy.
	runner atomic.Pointer[health.Runner]

	mu        sync.Mutex
	comps     *components
	listen    net.Addr
	buildInfo string
}

// New loads the configuration and builds the agent; nothing runs yet.
func New(opts Options) (*Agent, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		opts:   opts,
		now:    opts.Now,
		log:    opts.Log,
		store:  newFindingStore(opts.Now),
		self:   metrics.NewSet(),
		reload: make(chan chan error),
		wake:   make(chan struct{}, 1),
	}
	a.sched = newScheduler(a.now, a.log, &a.inflight, func(task string, fs []finding.Finding, err error, took time.Duration) {
		a.onCycle(task, kindInput, fs, err, took)
	})
	for _, w := range cfg.Warnings() {
		a.log.Warn("configuration", "warning", w.String())
	}
	a.cfg.Store(cfg)
	a.setBuildInfo(cfg.Node)
	a.self.NewGauge("anydiag_config_last_reload_successful", nil).Set(1)
	return a, nil
}

// setBuildInfo labels anydiag_build_info with the node in force.
func (a *Agent) setBuildInfo(n config.Node) {
	name := prometheus.Name("anydiag_build_info", "version", a.opts.Version, "node", n.Name,
		"site", n.Site, "continent", n.Continent)
	if name == a.buildInfo {
		return
	}
	if a.buildInfo != "" {
		a.self.UnregisterMetric(a.buildInfo)
	}
	a.self.GetOrCreateGauge(name, nil).Set(1)
	a.buildInfo = name
}

// wakePolicy asks the policy loop to evaluate now, without waiting.
func (a *Agent) wakePolicy() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Config returns the configuration in force.
func (a *Agent) Config() *config.Config { return a.cfg.Load() }

// Addr is the address the HTTP server listens on, once Run has started it.
func (a *Agent) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.listen
}

// Reload reads the configuration file again. An invalid file is rejected,
// the old configuration kept, and the error returned.
func (a *Agent) Reload(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case a.reload <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run serves and collects until ctx ends, then stops gracefully: the
// components shut down (withdrawing on shutdown when configured) and every
// goroutine is waited for.
func (a *Agent) Run(ctx context.Context) error {
	// A daemon holding sockets for BGP, BMP, HTTP clients and health probes
	// wants every descriptor it is allowed; the servers' connection caps
	// are derived from the raised limit.
	if n, err := serve.RaiseNOFILE(); err != nil {
		a.log.Warn("could not raise the open-files limit", "nofile", n, "err", err)
	} else {
		a.log.Info("open-files limit", "nofile", n, "http_max_conns", a.limits().MaxConns)
	}
	ln := a.opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.Config().Exporters.Listen.String())
		if err != nil {
			return fmt.Errorf("agent: listen: %w (set exporters.listen to a free address)", err)
		}
	}
	a.mu.Lock()
	a.listen = ln.Addr()
	a.mu.Unlock()

	comps, err := startComponents(ctx, a, a.Config())
	if err != nil {
		ln.Close()
		return err
	}
	a.mu.Lock()
	a.comps = comps
	a.mu.Unlock()

	limits := a.limits()
	srv, srvErr := a.serveOn(ln, limits)
	a.log.Info("agent listening", "addr", ln.Addr().String(), "node", a.Config().Node.Name)
	// retired are the servers a reload moved away from, shutting down
	// gracefully while the new one serves; Run waits for them.
	var retired sync.WaitGroup
	defer retired.Wait()

	for {
		schedCtx, stopSched := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { a.sched.run(schedCtx, a.comps.tasks()) })

		var reloadDone chan error
		select {
		case <-ctx.Done():
		case err := <-srvErr:
			stopSched()
			wg.Wait()
			a.comps.shutdown(context.Background())
			return fmt.Errorf("agent: http server: %w", err)
		case reloadDone = <-a.reload:
		}
		stopSched()
		wg.Wait()
		if reloadDone == nil {
			break
		}
		newLn, err := a.applyReload(ctx)
		if newLn != nil {
			old := srv
			srv, srvErr = a.serveOn(newLn, limits)
			a.mu.Lock()
			a.listen = newLn.Addr()
			a.mu.Unlock()
			a.log.Info("agent listening", "addr", newLn.Addr().String(), "previous", ln.Addr().String())
			ln = newLn
			// The old server stops accepting at once; requests in flight on it
			// finish (bounded by its write and idle timeouts).
			retired.Go(func() {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := old.Shutdown(sctx); err != nil {
					a.log.Warn("closing the previous listener", "err", err)
				}
			})
		}
		reloadDone <- err
	}

	// The HTTP server stays up until the components have shut down: the
	// fleet guard may count this node's routes through its own BMP API.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.comps.shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// limits are the HTTP server's limits: Options.Limits over the defaults,
// the connection cap taken after RaiseNOFILE.
func (a *Agent) limits() serve.Limits {
	l := a.opts.Limits
	if l.MaxConns <= 0 {
		l.MaxConns = serve.DefaultMaxConns()
	}
	return l
}

// serveOn starts the HTTP server on ln; its Serve error arrives on the
// channel (http.ErrServerClosed after a Shutdown).
func (a *Agent) serveOn(ln net.Listener, limits serve.Limits) (*http.Server, chan error) {
	srv := serve.New(a.handler(), limits)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(serve.Listen(ln, limits)) }()
	return srv, errc
}

// applyReload swaps in a new configuration and its components, or keeps
// the old ones when the new file is invalid, its components fail to start
// or its exporters.listen cannot be bound. When exporters.listen changed it
// returns the new listener, bound before anything else is changed, for Run
// to serve on.
func (a *Agent) applyReload(ctx context.Context) (net.Listener, error) {
	okGauge := a.self.GetOrCreateGauge("anydiag_config_last_reload_successful", nil)
	cfg, err := config.Load(a.opts.ConfigPath)
	var newLn net.Listener
	if err == nil {
		for _, w := range cfg.Warnings() {
			a.log.Warn("configuration", "warning", w.String())
		}
		// Bound first: a taken address rejects the reload with nothing
		// changed. Options.Listener (tests) overrides the address.
		if to, from := cfg.Exporters.Listen.String(), a.Config().Exporters.Listen.String(); a.opts.Listener == nil && to != from {
			if newLn, err = net.Listen("tcp", to); err != nil {
				newLn = nil
				err = fmt.Errorf("agent: exporters.listen %s: %w (still serving on %s)", to, err, from)
			}
		}
	}
	if err == nil {
		var comps *components
		comps, err = a.comps.reconfigure(ctx, a, cfg)
		if err != nil && newLn != nil {
			newLn.Close()
			newLn = nil
		}
		if err == nil {
			a.cfg.Store(cfg)
			a.mu.Lock()
			a.comps = comps
			a.setBuildInfo(cfg.Node)
			a.mu.Unlock()
		}
	}
	if err != nil {
		a.self.GetOrCreateCounter(`anydiag_config_reloads_total{result="rejected"}`).Inc()
		okGauge.Set(0)
		a.log.Error("configuration reload rejected; keeping the old configuration", "file", a.opts.ConfigPath, "err", err)
		return nil, err
	}
	a.self.GetOrCreateCounter(`anydiag_config_reloads_total{result="applied"}`).Inc()
	okGauge.Set(1)
	a.log.Info("configuration reloaded", "file", a.opts.ConfigPath)
	return newLn, nil
}

// onCycle records a task's findings, of kind k, and health.
func (a *Agent) onCycle(task string, k kind, fs []finding.Finding, err error, took time.Duration) {
	up := a.self.GetOrCreateGauge(prometheus.Name("anydiag_collector_up", "collector", task), nil)
	a.self.GetOrCreateGauge(prometheus.Name("anydiag_collector_duration_seconds", "collector", task), nil).Set(took.Seconds())
	if err != nil {
		up.Set(0)
		a.self.GetOrCreateCounter(prometheus.Name("anydiag_collector_failures_total", "collector", task)).Inc()
		fs = append(fs, finding.New("collector.failed", "collector "+task,
			fmt.Sprintf("collector %s failed: %v", task, err), map[string]any{"error": err.Error()}, a.now()))
	} else {
		up.Set(1)
	}
	// A change in the findings is an input of the policy (rules on
	// findings); its own findings are not.
	if a.store.set(task, k, fs) && k == kindInput {
		a.wakePolicy()
	}
}

// Findings returns the active findings, worst first.
func (a *Agent) Findings() []finding.Finding { return a.store.all() }

func (a *Agent) metricSets() []*metrics.Set {
	sets := []*metrics.Set{a.self, a.store.metricSet()}
	a.mu.Lock()
	if a.comps != nil {
		for _, h := range a.comps.sets() {
			sets = append(sets, h.current())
		}
	}
	a.mu.Unlock()
	return sets
}

// writeMetrics writes everything /metrics serves, for scrapes and pushes.
func (a *Agent) writeMetrics(w io.Writer) error {
	a.mu.Lock()
	var extra []func(io.Writer)
	if a.comps != nil {
		extra = a.comps.extra()
	}
	a.mu.Unlock()
	return prometheus.WriteWith(w, true, func(w io.Writer) {
		for _, f := range extra {
			f(w)
		}
	}, a.metricSets()...)
}

// Status is /api/v1/status.
type Status struct {
	Node       config.Node  `json:"node"`
	Version    string       `json:"version"`
	Collectors []TaskStatus `json:"collectors"`
	Findings   int          `json:"findings"`
	Extra      any          `json:"components,omitempty"`
}

func (a *Agent) status() Status {
	st := Status{Node: a.Config().Node, Version: a.opts.Version, Findings: len(a.store.all())}
	var extra func() any
	st.Collectors = a.sched.snapshot()
	a.mu.Lock()
	if a.comps != nil {
		extra = a.comps.status()
	}
	a.mu.Unlock()
	// The speaker's status may take a round trip; never under the lock.
	if extra != nil {
		st.Extra = extra()
	}
	return st
}

func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		if err := a.writeMetrics(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /api/v1/findings", api.Findings(a.store.all))
	mux.Handle("GET /api/v1/status", api.Status(func() any { return a.status() }))
	// Components (BMP API, control API, webhook) are looked up per request so
	// a reload that replaces them takes effect at once.
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		c := a.comps
		a.mu.Unlock()
		if c == nil {
			http.NotFound(w, r)
			return
		}
		c.ServeHTTP(w, r)
	}))
	return mux
}
