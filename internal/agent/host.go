package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	d("anydiag_thermal_sensor_celsius", prometheus.Gauge, "Temperature of a hwmon sensor or thermal zone, in degrees Celsius.")
	d("anydiag_thermal_sensor_crit_celsius", prometheus.Gauge, "Critical temperature of a sensor or thermal zone, in degrees Celsius.")
	d("anydiag_cpu_throttles_total", prometheus.Counter, "CPU thermal throttle events, by CPU and scope (core or package).")
	d("anydiag_cpu_frequency_ratio", prometheus.Gauge, "Current CPU frequency divided by its maximum.")
	d("anydiag_optics_rx_power_dbm", prometheus.Gauge, "Optical receive power per module lane, in dBm (-40 when no light).")
	d("anydiag_optics_tx_power_dbm", prometheus.Gauge, "Optical transmit power per module lane, in dBm (-40 when no light).")
	d("anydiag_optics_tx_bias_amperes", prometheus.Gauge, "Laser bias current per module lane, in amperes.")
	d("anydiag_optics_temperature_celsius", prometheus.Gauge, "Transceiver module temperature, in degrees Celsius.")
	d("anydiag_optics_supply_volts", prometheus.Gauge, "Transceiver module supply voltage, in volts.")
	d("anydiag_optics_rx_power_low_alarm_dbm", prometheus.Gauge, "The module's own receive power low-alarm threshold, in dBm.")
	d("anydiag_optics_rx_power_low_warning_dbm", prometheus.Gauge, "The module's own receive power low-warning threshold, in dBm.")
	d("anydiag_optics_info", prometheus.Gauge, "Always 1, labelled with the module's identity.")
	d("anydiag_link_up", prometheus.Gauge, "1 if the interface has carrier and is operationally up.")
	d("anydiag_link_mtu_bytes", prometheus.Gauge, "Interface MTU in bytes.")
	d("anydiag_link_speed_bytes_per_second", prometheus.Gauge, "Negotiated link speed in bytes per second (0 when unknown).")
	d("anydiag_link_carrier_changes_total", prometheus.Counter, "Carrier transitions since the interface was created (2 per flap).")
	d("anydiag_link_errors_total", prometheus.Counter, "Interface error counters by direction and kind (errors, crc, frame, fifo, missed, carrier).")
	d("anydiag_link_drops_total", prometheus.Counter, "Packets dropped by the interface, by direction.")
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
				h.replace(thermalMetrics(snap))
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
				mods, err := readOptics(ctx, o)
				h.replace(opticsMetrics(mods))
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
				h.replace(linkMetrics(snap))
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

// readOptics reads the configured dumps and interfaces; a module that fails
// to read is reported in the error while the others are still returned.
func readOptics(ctx context.Context, o config.Optics) ([]optics.Module, error) {
	var mods []optics.Module
	var errs []error
	for ifname, path := range o.EEPROMFiles {
		b, err := os.ReadFile(path)
		if err == nil {
			var img *optics.Image
			if img, err = optics.ParseDump(b); err == nil {
				var m *optics.Module
				if m, err = optics.Decode(img); err == nil {
					m.Interface, m.Source = ifname, path
					mods = append(mods, *m)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("optics: %s (%s): %w", ifname, path, err))
		}
	}
	for _, ifname := range o.Interfaces {
		if _, dumped := o.EEPROMFiles[ifname]; dumped {
			continue
		}
		img, src, err := optics.ReadInterface(ctx, ifname)
		if err == nil {
			var m *optics.Module
			if m, err = optics.Decode(img); err == nil {
				m.Interface, m.Source = ifname, src
				mods = append(mods, *m)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("optics: %s: %w", ifname, err))
		}
	}
	return mods, errors.Join(errs...)
}

func opticsMetrics(mods []optics.Module) *metrics.Set {
	set := metrics.NewSet()
	for _, m := range mods {
		id := prometheus.Labels("interface", m.Interface)
		set.GetOrCreateGauge(`anydiag_optics_info{`+id+`,`+prometheus.Labels("vendor", m.Identity.Vendor, "part_number", m.Identity.PartNumber,
			"serial", m.Identity.Serial, "type", m.Identity.Type, "wavelength_nm", fmt.Sprintf("%g", m.Identity.WavelengthNM))+`}`, nil).Set(1)
		if m.Monitors.Temp {
			set.GetOrCreateGauge(`anydiag_optics_temperature_celsius{`+id+`}`, nil).Set(m.TempCelsius)
		}
		if m.Monitors.Vcc {
			set.GetOrCreateGauge(`anydiag_optics_supply_volts{`+id+`}`, nil).Set(m.VccVolts)
		}
		if t := m.Thresholds; t != nil {
			set.GetOrCreateGauge(`anydiag_optics_rx_power_low_alarm_dbm{`+id+`}`, nil).Set(t.RxPowerDBm.LowAlarm)
			set.GetOrCreateGauge(`anydiag_optics_rx_power_low_warning_dbm{`+id+`}`, nil).Set(t.RxPowerDBm.LowWarning)
		}
		for i, l := range m.Lanes {
			lid := fmt.Sprintf(`%s,lane="%d"`, id, i+1)
			if m.Monitors.RxPower {
				set.GetOrCreateGauge(`anydiag_optics_rx_power_dbm{`+lid+`}`, nil).Set(l.RxPowerDBm)
			}
			if m.Monitors.TxPower {
				set.GetOrCreateGauge(`anydiag_optics_tx_power_dbm{`+lid+`}`, nil).Set(l.TxPowerDBm)
			}
			if m.Monitors.TxBias {
				set.GetOrCreateGauge(`anydiag_optics_tx_bias_amperes{`+lid+`}`, nil).Set(l.TxBiasMA / 1000)
			}
		}
	}
	return set
}

func linkMetrics(s link.Snapshot) *metrics.Set {
	set := metrics.NewSet()
	for _, i := range s.Interfaces {
		id := prometheus.Labels("device", i.Name)
		up := 0.0
		if i.Carrier && (i.OperState == "up" || i.OperState == "unknown") {
			up = 1
		}
		set.GetOrCreateGauge(`anydiag_link_up{`+id+`}`, nil).Set(up)
		set.GetOrCreateGauge(`anydiag_link_mtu_bytes{`+id+`}`, nil).Set(float64(i.MTU))
		if e := i.Ethtool; e != nil && e.SpeedMbps > 0 {
			set.GetOrCreateGauge(`anydiag_link_speed_bytes_per_second{`+id+`}`, nil).Set(float64(e.SpeedMbps) * 1e6 / 8)
		}
		set.GetOrCreateCounter(`anydiag_link_carrier_changes_total{` + id + `}`).Set(uint64(i.CarrierChanges))
		st := i.Stats
		for _, e := range []struct {
			dir, kind string
			v         uint64
		}{
			{"rx", "errors", st.RxErrors}, {"tx", "errors", st.TxErrors}, {"rx", "crc", st.RxCRCErrors},
			{"rx", "frame", st.RxFrameErrors}, {"rx", "fifo", st.RxFIFOErrors}, {"rx", "missed", st.RxMissed},
			{"tx", "carrier", st.TxCarrier},
		} {
			set.GetOrCreateCounter(fmt.Sprintf(`anydiag_link_errors_total{%s,direction=%q,kind=%q}`, id, e.dir, e.kind)).Set(e.v)
		}
		set.GetOrCreateCounter(fmt.Sprintf(`anydiag_link_drops_total{%s,direction="rx"}`, id)).Set(st.RxDropped)
		set.GetOrCreateCounter(fmt.Sprintf(`anydiag_link_drops_total{%s,direction="tx"}`, id)).Set(st.TxDropped)
	}
	return set
}

// thermalMetrics converts one thermal snapshot; sensors that vanish take
// their series with them because the set is replaced on every run.
func thermalMetrics(s thermal.Snapshot) *metrics.Set {
	set := metrics.NewSet()
	for _, sen := range s.Sensors {
		labels := prometheus.Labels("chip", sen.ChipName, "sensor", sen.Sensor, "label", sen.Label)
		set.GetOrCreateGauge(`anydiag_thermal_sensor_celsius{`+labels+`}`, nil).Set(sen.TempCelsius)
		if sen.CritCelsius > 0 {
			set.GetOrCreateGauge(`anydiag_thermal_sensor_crit_celsius{`+labels+`}`, nil).Set(sen.CritCelsius)
		}
	}
	for _, z := range s.Zones {
		labels := prometheus.Labels("chip", "thermal_zone", "sensor", z.Zone, "label", z.Type)
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
