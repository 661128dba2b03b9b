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
)

func init() {
	d := prometheus.Describe
	d("anydiag_host_prerequisite_ok", prometheus.Gauge, "1 if every host prerequisite holds, 0 if a host finding is active.")
}

// hostTasks are the collectors of the host itself. One thresholds analyzer
// serves them all: it keeps the optics trend window between runs.
func hostTasks(a *Agent, cfg *config.Config, c *part) []Task {
	cc := cfg.Collectors
	limits := thresholds.DefaultLimits()
	if r := cc.Optics.RxPowerDBm; r != nil {
		limits.RxPowerDBm = &thresholds.Range{Min: r.Min, Max: r.Max}
	}
	an := &lockedAnalyzer{a: thresholds.New(limits, a.now)}
	var tasks []Task
	if cc.Thermal.Enabled {
		col := thermal.New(cc.Thermal.SysfsRoot, a.now)
		h := c.newSet()
		var prev *thermal.Snapshot
		tasks = append(tasks, Task{Name: "thermal", Interval: cc.Thermal.Interval.D(), Timeout: timeoutFor(cc.Thermal.Interval.D()),
			Run: func(context.Context) ([]finding.Finding, error) {
				snap, err := col.Collect()
				if err != nil {
					return nil, err
				}
				h.replace(thermal.Metrics(snap))
				fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return t.Thermal(prev, snap) })
				prev = &snap
				return fs, nil
			}})
	}
	if cc.Optics.Enabled {
		h := c.newSet()
		o := cc.Optics
		tasks = append(tasks, Task{Name: "optics", Interval: o.Interval.D(), Timeout: timeoutFor(o.Interval.D()),
			Run: func(ctx context.Context) ([]finding.Finding, error) {
				mods, err := optics.Read(ctx, optics.Sources{Files: o.EEPROMFiles, Interfaces: o.Interfaces})
				h.replace(optics.Metrics(mods))
				fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return t.Optics(mods) })
				return fs, err
			}})
	}
	if cc.Link.Enabled {
		col := link.New(link.Options{Now: a.now})
		h := c.newSet()
		var prev *link.Snapshot
		want := map[string]bool{}
		for _, n := range cc.Link.Interfaces {
			want[n] = true
		}
		tasks = append(tasks, Task{Name: "link", Interval: cc.Link.Interval.D(), Timeout: timeoutFor(cc.Link.Interval.D()),
			Run: func(context.Context) ([]finding.Finding, error) {
				snap, err := col.Collect()
				if err != nil {
					return nil, err
				}
				if len(want) > 0 {
					kept := snap.Interfaces[:0]
					for _, i := range snap.Interfaces {
						if want[i.Name] {
							kept = append(kept, i)
						}
					}
					snap.Interfaces = kept
				}
				h.replace(link.Metrics(snap))
				fs := an.do(func(t *thresholds.Analyzer) []finding.Finding { return t.Links(prev, snap) })
				prev = &snap
				return fs, nil
			}})
	}
	if cc.Host.Enabled {
		col := host.New(hostOptions(a, cfg))
		h := c.newSet()
		req := host.Requirements{AnycastInterface: cfg.Anycast.Interface, Encapsulations: cc.Host.Encapsulations}
		for _, p := range cfg.Anycast.Prefixes {
			req.AnycastAddresses = append(req.AnycastAddresses, p.Addr())
		}
		tasks = append(tasks, Task{Name: "host", Interval: cc.Host.Interval.D(), Timeout: timeoutFor(cc.Host.Interval.D()),
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
			}})
	}
	return tasks
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
