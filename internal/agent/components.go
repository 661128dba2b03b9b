package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/exporters/push"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/speakers"
)

// part is a group of components built from one part of the configuration:
// collector tasks, the metric sets they publish, the APIs they serve, and
// how to stop them.
type part struct {
	tasks []Task
	sets  []*setHolder
	extra []func(io.Writer)
	mux   *http.ServeMux
	// status adds to /api/v1/status (the speaker's peers).
	status func() any
	stops  []func(context.Context)

	// What later parts use: the speaker part's speaker, the health part's
	// runner, the policy part's engine and loop.
	speaker speakers.Speaker
	kind    string
	runner  *health.Runner
	policy  *policyPart
}

// components are the agent's parts. Each is rebuilt by a reload only when
// its own sections change, so a reload of the policy keeps the BGP sessions
// and the BMP station's routes and flap history; the host collectors are
// rebuilt on every reload.
type components struct {
	cfg     *config.Config
	bmp     *part
	push    *part
	speaker *part
	health  *part
	policy  *part
	host    *part
}

// sections says which parts two configurations build differently.
type sections struct{ bmp, push, speaker, health, policy bool }

func changed(a, b *config.Config) sections {
	var s sections
	s.bmp = !reflect.DeepEqual(a.Collectors.BMP, b.Collectors.BMP) || !reflect.DeepEqual(a.Anycast, b.Anycast)
	s.push = !reflect.DeepEqual(a.Exporters.Push, b.Exporters.Push) || !reflect.DeepEqual(a.Node, b.Node)
	s.speaker = !reflect.DeepEqual(a.Speaker, b.Speaker)
	s.health = !reflect.DeepEqual(a.Health, b.Health)
	// The policy uses the speaker, so a new speaker means a new engine
	// (handed the old one's state).
	s.policy = s.speaker || !reflect.DeepEqual(a.Policy, b.Policy) || !reflect.DeepEqual(a.Anycast, b.Anycast) ||
		!reflect.DeepEqual(a.Node, b.Node) || a.Exporters.TokenFile != b.Exporters.TokenFile ||
		!reflect.DeepEqual(a.Exporters.Alertmanager, b.Exporters.Alertmanager)
	return s
}

func all() sections { return sections{true, true, true, true, true} }

// startComponents builds and starts every configured component.
func startComponents(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	next := &components{cfg: cfg}
	if err := next.start(ctx, a, all(), nil); err != nil {
		return nil, err
	}
	return next, nil
}

// start starts the parts marked in s, in dependency order; parts not
// marked must already be set. On failure the parts it started are stopped.
func (c *components) start(ctx context.Context, a *Agent, s sections, state *policy.State) error {
	// Components live until their stop function runs, never until the
	// agent's context ends: at shutdown the policy's last decisions still
	// need the BMP station, the health checks and the speaker.
	ctx = context.WithoutCancel(ctx)
	cfg := c.cfg
	var started []*part
	steps := []struct {
		on  bool
		dst **part
		run func(p *part) error
	}{
		{s.bmp, &c.bmp, func(p *part) error { return startBMP(ctx, a, cfg, p, p.mux) }},
		{s.push, &c.push, func(p *part) error { return startPush(ctx, a, cfg, p) }},
		{s.speaker, &c.speaker, func(p *part) error { return startSpeaker(ctx, a, cfg.Speaker, p) }},
		{s.health, &c.health, func(p *part) error { return startHealth(ctx, a, cfg, p) }},
		{s.policy, &c.policy, func(p *part) error { return startPolicy(ctx, a, cfg, c.speaker, p, state) }},
	}
	for _, st := range steps {
		if !st.on {
			continue
		}
		p := &part{mux: http.NewServeMux()}
		if err := st.run(p); err != nil {
			p.stop(context.Background())
			for i := len(started) - 1; i >= 0; i-- {
				started[i].stop(context.Background())
			}
			return err
		}
		*st.dst = p
		started = append(started, p)
	}
	c.host = startHost(a, cfg)
	return nil
}

func startHost(a *Agent, cfg *config.Config) *part {
	h := &part{mux: http.NewServeMux()}
	h.tasks = hostTasks(a, cfg, h)
	return h
}

// stopParts stops the parts marked in s, dependents first.
func (c *components) stopParts(ctx context.Context, s sections) {
	for _, st := range []struct {
		on bool
		p  *part
	}{{s.policy, c.policy}, {s.speaker, c.speaker}, {s.health, c.health}, {s.push, c.push}, {s.bmp, c.bmp}} {
		if st.on && st.p != nil {
			st.p.stop(ctx)
		}
	}
}

// reconfigure builds the components of a new configuration: new host
// collectors, and new parts only where their sections changed. The old
// parts that change stop first (the new speaker and station bind the same
// ports); should a new one fail, the old configuration's parts are started
// again and the error returned.
func (c *components) reconfigure(ctx context.Context, a *Agent, cfg *config.Config) (*components, error) {
	s := changed(c.cfg, cfg)
	if s.speaker {
		a.log.Warn("configuration reload changes the speaker: restarting it (BGP sessions restart)")
	}
	c.host.stop(ctx)
	c.stopParts(ctx, s)
	// The state is read once the old policy loop has stopped, so no
	// decision falls between the hand-over and the new engine.
	var state *policy.State
	if s.policy && c.policy != nil && c.policy.policy != nil {
		st := c.policy.policy.eng.State()
		state = &st
	}
	next := &components{cfg: cfg, bmp: c.bmp, push: c.push, speaker: c.speaker, health: c.health, policy: c.policy}
	if err := next.start(ctx, a, s, state); err != nil {
		old := &components{cfg: c.cfg, bmp: c.bmp, push: c.push, speaker: c.speaker, health: c.health, policy: c.policy}
		if oerr := old.start(ctx, a, s, state); oerr != nil {
			a.log.Error("restarting the old configuration's components failed", "err", oerr)
		}
		*c = *old
		return nil, err
	}
	return next, nil
}

// shutdown stops everything for good. The order makes the shutdown's
// decisions true: the policy loop stops, then the engine decides on its
// withdrawals while every input of its guards (BMP station, health checks,
// the agent's HTTP server) is still running; then the speaker stops, and
// what stopping it did to the routes is audited; then the rest.
func (c *components) shutdown(ctx context.Context) {
	c.host.stop(ctx)
	if c.policy != nil && c.policy.policy != nil {
		c.policy.policy.shutdown(ctx, c.speaker)
	}
	c.stopParts(ctx, all())
}

func (c *components) parts() []*part {
	var out []*part
	for _, p := range []*part{c.bmp, c.push, c.speaker, c.health, c.policy, c.host} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (c *components) tasks() []Task {
	var out []Task
	for _, p := range c.parts() {
		out = append(out, p.tasks...)
	}
	return out
}

func (c *components) sets() []*setHolder {
	var out []*setHolder
	for _, p := range c.parts() {
		out = append(out, p.sets...)
	}
	return out
}

func (c *components) extra() []func(io.Writer) {
	var out []func(io.Writer)
	for _, p := range c.parts() {
		out = append(out, p.extra...)
	}
	return out
}

// status is the speaker's part of /api/v1/status, if any.
func (c *components) status() func() any {
	if c.speaker == nil {
		return nil
	}
	return c.speaker.status
}

// ServeHTTP sends a request to the part that serves its path.
func (c *components) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, p := range c.parts() {
		if h, pattern := p.mux.Handler(r); pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
	}
	http.NotFound(w, r)
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
