package thermal

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

func init() {
	d := prometheus.Describe
	d("anydiag_thermal_sensor_celsius", prometheus.Gauge, "Temperature of a hwmon sensor or thermal zone, in degrees Celsius.")
	d("anydiag_thermal_sensor_crit_celsius", prometheus.Gauge, "Critical temperature of a sensor or thermal zone, in degrees Celsius.")
	d("anydiag_thermal_cooling_device_state", prometheus.Gauge, "Current state of a thermal cooling device (fan step, clamp or throttle level; -1 when the driver reports it idle).")
	d("anydiag_thermal_cooling_device_max_state", prometheus.Gauge, "Highest state the thermal cooling device can be set to.")
	d("anydiag_cpu_throttles_total", prometheus.Counter, "CPU thermal throttle events, by CPU and scope (core or package).")
	d("anydiag_cpu_frequency_ratio", prometheus.Gauge, "Current CPU frequency divided by its maximum.")
}

// Metrics converts one snapshot into a fresh set. The caller replaces the
// previous set with it on every run, so sensors and devices that vanish
// take their series with them.
func Metrics(s Snapshot) *metrics.Set {
	set := metrics.NewSet()
	for _, sen := range s.Sensors {
		kv := []string{"chip", sen.ChipName, "sensor", sen.Sensor, "label", sen.Label}
		set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_sensor_celsius", kv...), nil).Set(sen.TempCelsius)
		if sen.CritCelsius > 0 {
			set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_sensor_crit_celsius", kv...), nil).Set(sen.CritCelsius)
		}
	}
	for _, z := range s.Zones {
		kv := []string{"chip", "thermal_zone", "sensor", z.Zone, "label", z.Type}
		set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_sensor_celsius", kv...), nil).Set(z.TempCelsius)
		if c := z.CritCelsius(); c > 0 {
			set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_sensor_crit_celsius", kv...), nil).Set(c)
		}
	}
	for _, c := range s.Cooling {
		kv := []string{"device", c.Device, "type", c.Type}
		set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_cooling_device_state", kv...), nil).Set(float64(c.CurState))
		set.GetOrCreateGauge(prometheus.Name("anydiag_thermal_cooling_device_max_state", kv...), nil).Set(float64(c.MaxState))
	}
	for _, c := range s.CPUs {
		cpu := strconv.Itoa(c.CPU)
		if c.HasThrottle {
			set.GetOrCreateCounter(prometheus.Name("anydiag_cpu_throttles_total", "cpu", cpu, "scope", "core")).Set(c.CoreThrottleCount)
			set.GetOrCreateCounter(prometheus.Name("anydiag_cpu_throttles_total", "cpu", cpu, "scope", "package")).Set(c.PackageThrottleCount)
		}
		if c.MaxFreqKHz > 0 {
			set.GetOrCreateGauge(prometheus.Name("anydiag_cpu_frequency_ratio", "cpu", cpu), nil).Set(float64(c.CurFreqKHz) / float64(c.MaxFreqKHz))
		}
	}
	return set
}
