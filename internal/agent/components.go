package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/push"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
)

// components are the parts of the agent built from the configuration:
// collector tasks, the metric sets they publish, the APIs they serve, and
// the long-lived pieces (BMP station, speaker, policy) with their stop funcs.
type components struct {
	tasks      []Task
	sets       []*setHolder
	extra      []func(io.Writer)
	handler    http.Handler
	onFindings func([]finding.Finding)
	status     func() any
	stops      []func(context.Context)
}

// startComponents builds and starts every configured component.
func startComponents(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	c := &components{}
	mux := http.NewServeMux()
	c.handler = mux
	c.tasks = append(c.tasks, hostTasks(a, cfg, c)...)
	if err := startBMP(ctx, a, cfg, c, mux); err != nil {
		c.stop(context.Background())
		return nil, err
	}
	if err := startPush(ctx, a, cfg, c); err != nil {
		c.stop(context.Background())
		return nil, err
	}
	if err := startPolicy(ctx, a, cfg, c, mux); err != nil {
		c.stop(context.Background())
		return nil, err
	}
	return c, nil
}

// reconfigure builds the components of a new configuration. Collector
// tasks are always rebuilt (they are stateless between runs).
func (c *components) reconfigure(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	// The old components stop first: the new speaker binds the same port.
	// Should the new ones fail, the old configuration is started again.
	c.stop(ctx)
	next, err := startComponents(ctx, a, cfg)
	if err != nil {
		if old, oerr := startComponents(ctx, a, a.Config()); oerr == nil {
			*c = *old
		}
		return nil, err
	}
	return next, nil
}

// stop stops the long-lived components in reverse order of start.
func (c *components) stop(ctx context.Context) {
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

func (c *components) newSet() *setHolder {
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
func startPush(ctx context.Context, a *Agent, cfg *config.Config, c *components) error {
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
