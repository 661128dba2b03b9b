package thresholds

import (
	"fmt"
	"sort"

	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/internal/finding"
)

// Thermal reports sensors and zones near their critical temperature, and
// throttling: throttle counters that rose since prev (nil for a single
// sample) or, when MinFreqRatio is set, CPUs clocked below it.
func (a *Analyzer) Thermal(prev *thermal.Snapshot, cur thermal.Snapshot) []finding.Finding {
	var out []finding.Finding
	for _, s := range cur.Sensors {
		if f, ok := a.hot(s.Chip+" "+s.Name(), s.TempCelsius, s.CritCelsius, s.MaxCelsius); ok {
			out = append(out, f)
		}
	}
	for _, z := range cur.Zones {
		if f, ok := a.hot(z.Zone+" "+z.Type, z.TempCelsius, z.CritCelsius(), 0); ok {
			out = append(out, f)
		}
	}
	if prev != nil {
		out = append(out, a.throttle(*prev, cur)...)
	}
	if f, ok := a.slowCPUs(cur); ok {
		out = append(out, f)
	}
	return out
}

// hot judges one temperature against its critical and maximum limits
// (0 = not reported): at or past crit is critical, within the margin of crit
// or past max is a warning.
func (a *Analyzer) hot(subject string, temp, crit, maxC float64) (finding.Finding, bool) {
	ev := map[string]any{"temp_celsius": temp}
	if crit > 0 {
		ev["crit_celsius"] = crit
	}
	if maxC > 0 {
		ev["max_celsius"] = maxC
	}
	switch {
	case crit > 0 && temp >= crit:
		return finding.New("thermal.near_critical", subject,
			fmt.Sprintf("%.1f °C, at or above critical %.1f °C", temp, crit), ev, a.now()).WithSeverity(finding.Critical), true
	case crit > 0 && temp >= crit-a.limits.NearCritMarginCelsius:
		return finding.New("thermal.near_critical", subject,
			fmt.Sprintf("%.1f °C, within %.1f °C of critical %.1f °C", temp, crit-temp, crit), ev, a.now()), true
	case maxC > 0 && temp >= maxC:
		return finding.New("thermal.near_critical", subject,
			fmt.Sprintf("%.1f °C, above the sensor's maximum %.1f °C", temp, maxC), ev, a.now()), true
	}
	return finding.Finding{}, false
}

// throttle compares throttle counters. Package counters repeat on every CPU
// of a package, so they are counted once per package.
func (a *Analyzer) throttle(prev, cur thermal.Snapshot) []finding.Finding {
	before := make(map[int]thermal.CPU, len(prev.CPUs))
	for _, c := range prev.CPUs {
		before[c.CPU] = c
	}
	coreRise := map[int]uint64{} // per package
	pkgRise := map[int]uint64{}
	for _, c := range cur.CPUs {
		p, ok := before[c.CPU]
		if !ok || !c.HasThrottle || !p.HasThrottle {
			continue
		}
		// A counter below its previous value was reset (CPU hotplug).
		if c.CoreThrottleCount > p.CoreThrottleCount {
			coreRise[c.Package] += c.CoreThrottleCount - p.CoreThrottleCount
		}
		if c.PackageThrottleCount > p.PackageThrottleCount {
			pkgRise[c.Package] = max(pkgRise[c.Package], c.PackageThrottleCount-p.PackageThrottleCount)
		}
	}
	pkgs := map[int]bool{}
	for p := range coreRise {
		pkgs[p] = true
	}
	for p := range pkgRise {
		pkgs[p] = true
	}
	ids := make([]int, 0, len(pkgs))
	for p := range pkgs {
		ids = append(ids, p)
	}
	sort.Ints(ids)
	var out []finding.Finding
	for _, p := range ids {
		ev := map[string]any{
			"core_throttles":    coreRise[p],
			"package_throttles": pkgRise[p],
			"interval_seconds":  cur.At.Sub(prev.At).Seconds(),
		}
		out = append(out, finding.New("thermal.throttling", fmt.Sprintf("cpu package %d", p),
			fmt.Sprintf("throttle counters rose: %d core and %d package events in %s",
				coreRise[p], pkgRise[p], cur.At.Sub(prev.At)), ev, a.now()))
	}
	return out
}

// slowCPUs reports the mean frequency ratio when it is below MinFreqRatio.
func (a *Analyzer) slowCPUs(cur thermal.Snapshot) (finding.Finding, bool) {
	if a.limits.MinFreqRatio <= 0 {
		return finding.Finding{}, false
	}
	var sum float64
	var n int
	for _, c := range cur.CPUs {
		if c.CurFreqKHz > 0 && c.MaxFreqKHz > 0 {
			sum += float64(c.CurFreqKHz) / float64(c.MaxFreqKHz)
			n++
		}
	}
	if n == 0 || sum/float64(n) >= a.limits.MinFreqRatio {
		return finding.Finding{}, false
	}
	ratio := sum / float64(n)
	return finding.New("thermal.throttling", "cpu frequency",
		fmt.Sprintf("CPUs run at %.0f%% of their maximum frequency on average (limit %.0f%%)", ratio*100, a.limits.MinFreqRatio*100),
		map[string]any{"freq_ratio": ratio, "cpus": n}, a.now()).WithSeverity(finding.Warning), true
}
