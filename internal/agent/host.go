package agent

import (
	"context"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/thresholds"
	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

func init() {
	prometheus.Describe("anydiag_host_prerequisite_ok", prometheus.Gauge, "1 if every host prerequisite holds, 0 if a host finding is active.")
}

// hostTasks are the collectors of the host itself, one entry each. One
// thresholds analyzer judges them all: it keeps the optics trend window
// between runs.
func hostTasks(a *Agent, cfg *config.Config, c *part) []Task {
	cc := cfg.Collectors
	limits := thresholds.DefaultLimits()
	if r := cc.Optics.RxPowerDBm; r != nil {
		limits.RxPowerDBm = &thresholds.Range{Min: r.Min, Max: r.Max}
	}
	an := &lockedAnalyzer{a: thresholds.New(limits, a.now)}
	thermalCol, linkCol := thermal.New(cc.Thermal.SysfsRoot, a.now), link.New(link.Options{Now: a.now})
	var tasks []Task
	add := func(on bool, t func() Task) {
		if on {
			tasks = append(tasks, t())
		}
	}
	add(cc.Thermal.Enabled, sampled[thermal.Snapshot]{name: "thermal", every: cc.Thermal.Interval,
		read:   func(context.Context) (thermal.Snapshot, error) { return thermalCol.Collect() },
		export: thermal.Metrics, judge: (*thresholds.Analyzer).Thermal}.bind(c, an))
	add(cc.Optics.Enabled, sampled[[]optics.Module]{name: "optics", every: cc.Optics.Interval, partial: true,
		read: func(ctx context.Context) ([]optics.Module, error) {
			return optics.Read(ctx, cc.Optics.Sources())
		},
		export: optics.Metrics, judge: func(t *thresholds.Analyzer, _ *[]optics.Module, mods []optics.Module) []finding.Finding {
			return t.Optics(mods)
		}}.bind(c, an))
	add(cc.Link.Enabled, sampled[link.Snapshot]{name: "link", every: cc.Link.Interval,
		read: func(context.Context) (link.Snapshot, error) {
			s, err := linkCol.Collect()
			return s.Only(cc.Link.Interfaces), err
		},
		export: link.Metrics, judge: (*thresholds.Analyzer).Links}.bind(c, an))
	add(cc.Host.Enabled, func() Task { return prerequisitesTask(a, cfg, c, an) })
	return tasks
}

// sampled is a collector the agent runs on an interval: read takes a
// sample, export turns it into the collector's metric set (which replaces
// the previous one, so vanished devices lose their series), and judge,
// given the previous sample, into findings.
type sampled[S any] struct {
	name  string
	every yamlconf.Duration
	read  func(context.Context) (S, error)
	// partial says a failed read still returns a usable sample (optics: the
	// modules that did read); otherwise a failed run exports and judges
	// nothing.
	partial bool
	export  func(S) *metrics.Set
	judge   func(t *thresholds.Analyzer, prev *S, cur S) []finding.Finding
}

// bind returns the constructor of the collector's task on part c.
func (s sampled[S]) bind(c *part, an *lockedAnalyzer) func() Task {
	return func() Task {
		h := c.newSet()
		var prev *S
		return Task{Name: s.name, Interval: s.every.D(), Timeout: timeoutFor(s.every.D()),
			Run: func(ctx context.Context) ([]finding.Finding, error) {
				cur, err := s.read(ctx)
				if err != nil && !s.partial {
					return nil, err
				}
				h.replace(s.export(cur))
				fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return s.judge(t, prev, cur) })
				prev = &cur
				return fs, err
			}}
	}
}

// prerequisitesTask checks the host's kernel and anycast prerequisites;
// its one gauge says whether any of them failed.
func prerequisitesTask(a *Agent, cfg *config.Config, c *part, an *lockedAnalyzer) Task {
	cc := cfg.Collectors
	col := host.New(hostOptions(a, cfg))
	h := c.newSet()
	req := host.Requirements{AnycastInterface: cfg.Anycast.Interface, Encapsulations: cc.Host.Encapsulations}
	for _, p := range cfg.Anycast.Prefixes {
		req.AnycastAddresses = append(req.AnycastAddresses, p.Addr())
	}
	return Task{Name: "host", Interval: cc.Host.Interval.D(), Timeout: timeoutFor(cc.Host.Interval.D()),
		Run: func(context.Context) ([]finding.Finding, error) {
			facts, err := col.Collect()
			if err != nil {
				return nil, err
			}
			fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return t.Prerequisites(facts, req) })
			set := metrics.NewSet()
			ok := 1.0
			if len(fs) > 0 {
				ok = 0
			}
			set.NewGauge("anydiag_host_prerequisite_ok", nil).Set(ok)
			h.replace(set)
			return fs, nil
		}}
}

// lockedAnalyzer serialises the tasks' use of the shared analyzer.
type lockedAnalyzer struct {
	mu sync.Mutex
	a  *thresholds.Analyzer
}

func (l *lockedAnalyzer) do(f func(*thresholds.Analyzer) []finding.Finding) []finding.Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f(l.a)
}

// timeoutFor bounds a run to its interval, at most 30 seconds.
func timeoutFor(interval time.Duration) time.Duration {
	return min(interval, 30*time.Second)
}
