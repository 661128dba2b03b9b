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
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

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
	hostCol, req := host.New(hostOptions(a, cfg)), hostRequirements(cfg)
	add(cc.Host.Enabled, sampled[host.Facts]{name: "host", every: cc.Host.Interval,
		read: func(context.Context) (host.Facts, error) { return hostCol.Collect() },
		judge: func(t *thresholds.Analyzer, _ *host.Facts, f host.Facts) []finding.Finding {
			return t.Prerequisites(f, req)
		},
		verdict: thresholds.PrerequisiteMetrics}.bind(c, an))
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
	// export may be nil for a collector whose samples are only judged
	// (host facts).
	export func(S) *metrics.Set
	judge  func(t *thresholds.Analyzer, prev *S, cur S) []finding.Finding
	// verdict, when set, turns judge's findings into metrics of the
	// judgement (thresholds.PrerequisiteMetrics), a set of its own replaced
	// on every judged run.
	verdict func([]finding.Finding) *metrics.Set
}

// bind returns the constructor of the collector's task on part c.
func (s sampled[S]) bind(c *part, an *lockedAnalyzer) func() Task {
	return func() Task {
		var exported, judged *setHolder
		if s.export != nil {
			exported = c.newSet()
		}
		if s.verdict != nil {
			judged = c.newSet()
		}
		var prev *S
		return Task{Name: s.name, Interval: s.every.D(), Timeout: timeoutFor(s.every.D()),
			Run: func(ctx context.Context) ([]finding.Finding, error) {
				cur, err := s.read(ctx)
				if err != nil && !s.partial {
					return nil, err
				}
				if exported != nil {
					exported.replace(s.export(cur))
				}
				fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return s.judge(t, prev, cur) })
				if judged != nil {
					judged.replace(s.verdict(fs))
				}
				prev = &cur
				return fs, err
			}}
	}
}

// hostRequirements are what the host prerequisites are judged against:
// the anycast interface and service addresses, and the encapsulations.
func hostRequirements(cfg *config.Config) host.Requirements {
	req := host.Requirements{AnycastInterface: cfg.Anycast.Interface, Encapsulations: cfg.Collectors.Host.Encapsulations}
	for _, p := range cfg.Anycast.Prefixes {
		req.AnycastAddresses = append(req.AnycastAddresses, p.Addr())
	}
	return req
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
