package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
)

func init() {
	prometheus.Describe("anydiag_thermal_sensor_celsius", prometheus.Gauge,
		"Temperature of a hwmon sensor or thermal zone, in degrees Celsius.")
	prometheus.Describe("anydiag_thermal_sensor_crit_celsius", prometheus.Gauge,
		"Critical temperature of a sensor or zone, in degrees Celsius.")
	prometheus.Describe("anydiag_cpu_throttles_total", prometheus.Counter,
		"CPU thermal throttle events by CPU and scope (core or package).")
	prometheus.Describe("anydiag_cpu_frequency_ratio", prometheus.Gauge,
		"Current CPU frequency divided by its maximum.")
}

// hostTasks are the collectors of the host itself: thermal for now.
func hostTasks(a *Agent, cfg *config.Config, c *components) []Task {
	var tasks []Task
	if th := cfg.Collectors.Thermal; th.Enabled {
		col := thermal.New(th.SysfsRoot, a.now)
		holder := c.newSet()
		tasks = append(tasks, Task{
			Name: "thermal", Interval: th.Interval.D(), Timeout: timeoutFor(th.Interval.D()),
			Run: func(ctx context.Context) ([]finding.Finding, error) {
				snap, err := col.Collect()
				if err != nil {
					return nil, err
				}
				holder.replace(thermalMetrics(snap))
				return nil, nil
			},
		})
	}
	return tasks
}

// timeoutFor bounds a run to its interval, at most 30 seconds.
func timeoutFor(interval time.Duration) time.Duration {
	return min(interval, 30*time.Second)
}

func thermalMetrics(s thermal.Snapshot) *metrics.Set {
	set := metrics.NewSet()
	for _, sen := range s.Sensors {
		labels := fmt.Sprintf(`chip=%q,sensor=%q,label=%q`, prometheus.Label(sen.ChipName), sen.Sensor, prometheus.Label(sen.Label))
		set.GetOrCreateGauge(`anydiag_thermal_sensor_celsius{`+labels+`}`, nil).Set(sen.TempCelsius)
		if sen.CritCelsius > 0 {
			set.GetOrCreateGauge(`anydiag_thermal_sensor_crit_celsius{`+labels+`}`, nil).Set(sen.CritCelsius)
		}
	}
	for _, z := range s.Zones {
		labels := fmt.Sprintf(`chip="thermal_zone",sensor=%q,label=%q`, z.Zone, prometheus.Label(z.Type))
		set.GetOrCreateGauge(`anydiag_thermal_sensor_celsius{`+labels+`}`, nil).Set(z.TempCelsius)
		if c := z.CritCelsius(); c > 0 {
			set.GetOrCreateGauge(`anydiag_thermal_sensor_crit_celsius{`+labels+`}`, nil).Set(c)
		}
	}
	for _, c := range s.CPUs {
		if c.HasThrottle {
			set.GetOrCreateCounter(fmt.Sprintf(`anydiag_cpu_throttles_total{cpu="%d",scope="core"}`, c.CPU)).Set(c.CoreThrottleCount)
			set.GetOrCreateCounter(fmt.Sprintf(`anydiag_cpu_throttles_total{cpu="%d",scope="package"}`, c.CPU)).Set(c.PackageThrottleCount)
		}
		if c.MaxFreqKHz > 0 {
			set.GetOrCreateGauge(fmt.Sprintf(`anydiag_cpu_frequency_ratio{cpu="%d"}`, c.CPU), nil).Set(float64(c.CurFreqKHz) / float64(c.MaxFreqKHz))
		}
	}
	return set
}
