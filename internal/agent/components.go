package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/push"
	"github.com/anydiag/anydiag/internal/config"
)

// part is a group of components built from the configuration: collector
// tasks, the metric sets they publish, the APIs they serve, and how to stop
// them.
type part struct {
	tasks   []Task
	sets    []*setHolder
	extra   []func(io.Writer)
	handler http.Handler
	status  func() any
	stops   []func(context.Context)
	// shutdown runs only when the agent exits, before stops: withdraw on
	// shutdown must never run on a reload.
	shutdown []func(context.Context)
}

// components are the agent's parts: the core (BMP station, push, speaker,
// health checks, policy) lives across reloads while its configuration is
// unchanged, so a SIGHUP never bounces BGP sessions or forgets penalties;
// the host collectors are rebuilt on every reload.
type components struct {
	core    *part
	coreCfg *config.Config
	host    *part
}

// startComponents builds and starts every configured component.
func startComponents(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	core, err := startCore(ctx, a, cfg)
	if err != nil {
		return nil, err
	}
	return &components{core: core, coreCfg: cfg, host: startHost(a, cfg)}, nil
}

func startHost(a *Agent, cfg *config.Config) *part {
	h := &part{}
	h.tasks = hostTasks(a, cfg, h)
	return h
}

func startCore(ctx context.Context, a *Agent, cfg *config.Config) (*part, error) {
	c := &part{}
	mux := http.NewServeMux()
	c.handler = mux
	for _, start := range []func() error{
		func() error { return startBMP(ctx, a, cfg, c, mux) },
		func() error { return startPush(ctx, a, cfg, c) },
		func() error { return startPolicy(ctx, a, cfg, c, mux) },
	} {
		if err := start(); err != nil {
			c.stop(context.Background())
			return nil, err
		}
	}
	return c, nil
}

// sameCore reports whether two configurations build the same core.
func sameCore(a, b *config.Config) bool {
	return reflect.DeepEqual(a.Node, b.Node) && reflect.DeepEqual(a.Anycast, b.Anycast) &&
		reflect.DeepEqual(a.Speaker, b.Speaker) && reflect.DeepEqual(a.Health, b.Health) &&
		reflect.DeepEqual(a.Policy, b.Policy) && reflect.DeepEqual(a.Exporters, b.Exporters) &&
		reflect.DeepEqual(a.Collectors.BMP, b.Collectors.BMP)
}

// reconfigure builds the components of a new configuration: new host
// collectors, and a new core only when its sections changed.
func (c *components) reconfigure(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	if sameCore(c.coreCfg, cfg) {
		c.host.stop(ctx)
		return &components{core: c.core, coreCfg: c.coreCfg, host: startHost(a, cfg)}, nil
	}
	// The old core stops first: the new speaker binds the same port. Should
	// the new one fail, the old configuration is started again.
	a.log.Warn("configuration reload changes the speaker, policy, health checks or exporters: restarting them (BGP sessions restart)")
	c.core.stop(ctx)
	c.host.stop(ctx)
	next, err := startComponents(ctx, a, cfg)
	if err != nil {
		if old, oerr := startComponents(ctx, a, c.coreCfg); oerr == nil {
			*c = *old
		}
		return nil, err
	}
	return next, nil
}

// shutdown stops everything for good, withdraw-on-shutdown included.
func (c *components) shutdown(ctx context.Context) {
	for _, f := range c.core.shutdown {
		f(ctx)
	}
	c.core.stop(ctx)
	c.host.stop(ctx)
}

func (c *components) tasks() []Task {
	return append(append([]Task(nil), c.core.tasks...), c.host.tasks...)
}

func (c *components) sets() []*setHolder {
	return append(append([]*setHolder(nil), c.core.sets...), c.host.sets...)
}

// stop stops the part's components in reverse order of start.
func (c *part) stop(ctx context.Context) {
	for i := len(c.stops) - 1; i >= 0; i-- {
		c.stops[i](ctx)
	}
	c.stops = nil
}

// setHolder holds a metric set that a collector replaces on every run, so
// series of vanished sensors or peers disappear with them.
type setHolder struct {
	mu  sync.Mutex
	set *metrics.Set
}

func (c *part) newSet() *setHolder {
	h := &setHolder{set: metrics.NewSet()}
	c.sets = append(c.sets, h)
	return h
}

func (h *setHolder) replace(s *metrics.Set) {
	h.mu.Lock()
	h.set = s
	h.mu.Unlock()
}

func (h *setHolder) current() *metrics.Set {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.set
}

// startPush pushes the agent's metrics to VictoriaMetrics, labelled with
// the node's name and site unless the configuration sets them.
func startPush(ctx context.Context, a *Agent, cfg *config.Config, c *part) error {
	pc := cfg.Exporters.Push
	if pc == nil {
		return nil
	}
	conf := *pc
	conf.ExtraLabels = map[string]string{"node": cfg.Node.Name}
	if cfg.Node.Site != "" {
		conf.ExtraLabels["site"] = cfg.Node.Site
	}
	for k, v := range pc.ExtraLabels {
		conf.ExtraLabels[k] = v
	}
	p, err := push.New(conf, a.writeMetrics, a.now)
	if err != nil {
		return fmt.Errorf("agent: exporters.push: %w", err)
	}
	c.sets = append(c.sets, &setHolder{set: p.Metrics()})
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(pctx) }()
	c.stops = append(c.stops, func(context.Context) { stop(); <-done })
	return nil
}
