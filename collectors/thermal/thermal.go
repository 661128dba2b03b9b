// Package thermal reads temperatures, thermal zones, cooling devices, CPU
// throttle counters and CPU frequencies from sysfs. It reports values only;
// deciding what is too hot belongs to analyzers/thresholds.
package thermal

import (
	"fmt"
	"os"
	"time"
)

// Sensor is one hwmon temperature input (temp<N>_* files of a hwmon chip).
type Sensor struct {
	// Chip is the hwmon directory name, e.g. "hwmon2".
	Chip string `json:"chip"`
	// ChipName is the driver's name file, e.g. "coretemp" or "k10temp".
	ChipName string `json:"chip_name"`
	// Sensor is the attribute prefix, e.g. "temp1".
	Sensor string `json:"sensor"`
	// Label is the temp<N>_label text ("Package id 0", "Tctl"), empty when absent.
	Label       string  `json:"label,omitempty"`
	TempCelsius float64 `json:"temp_celsius"`
	// MaxCelsius and CritCelsius are the driver's limits; 0 means not reported.
	MaxCelsius  float64 `json:"max_celsius,omitempty"`
	CritCelsius float64 `json:"crit_celsius,omitempty"`
}

// Name is how a sensor is shown to a human: chip name, sensor and label.
func (s Sensor) Name() string {
	if s.Label != "" {
		return fmt.Sprintf("%s/%s (%s)", s.ChipName, s.Sensor, s.Label)
	}
	return s.ChipName + "/" + s.Sensor
}

// TripPoint is one trip point of a thermal zone.
type TripPoint struct {
	// Type is "critical", "hot", "passive" or "active".
	Type        string  `json:"type"`
	TempCelsius float64 `json:"temp_celsius"`
}

// Zone is one /sys/class/thermal/thermal_zone<N>.
type Zone struct {
	Zone        string      `json:"zone"`
	Type        string      `json:"type"`
	TempCelsius float64     `json:"temp_celsius"`
	Trips       []TripPoint `json:"trips,omitempty"`
}

// CritCelsius returns the zone's critical trip temperature, 0 when it has none.
func (z Zone) CritCelsius() float64 {
	for _, t := range z.Trips {
		if t.Type == "critical" {
			return t.TempCelsius
		}
	}
	return 0
}

// CoolingDevice is one /sys/class/thermal/cooling_device<N>. CurState is
// signed because intel_powerclamp reports -1 while it is not clamping.
type CoolingDevice struct {
	Device   string `json:"device"`
	Type     string `json:"type"`
	CurState int64  `json:"cur_state"`
	MaxState int64  `json:"max_state"`
}

// CPU is one logical CPU's throttle counters and frequency.
type CPU struct {
	CPU     int `json:"cpu"`
	Package int `json:"package"`
	Core    int `json:"core"`
	// HasThrottle is false when the CPU has no thermal_throttle directory
	// (AMD, ARM, most VMs): the counters are then meaningless zeros.
	HasThrottle          bool   `json:"has_throttle"`
	CoreThrottleCount    uint64 `json:"core_throttle_count"`
	PackageThrottleCount uint64 `json:"package_throttle_count"`
	// CurFreqKHz and MaxFreqKHz come from cpufreq; 0 means not reported.
	CurFreqKHz uint64 `json:"cur_freq_khz,omitempty"`
	MaxFreqKHz uint64 `json:"max_freq_khz,omitempty"`
}

// Snapshot is everything one Collect read.
type Snapshot struct {
	At      time.Time       `json:"at"`
	Sensors []Sensor        `json:"sensors"`
	Zones   []Zone          `json:"zones"`
	Cooling []CoolingDevice `json:"cooling_devices"`
	CPUs    []CPU           `json:"cpus"`
}

// Collector reads a sysfs tree.
type Collector struct {
	sysRoot string
	now     func() time.Time
}

// New returns a collector of the sysfs tree at sysRoot ("/sys" on a live
// host, a fixture directory in tests); now stamps snapshots and defaults to
// time.Now when nil.
func New(sysRoot string, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{sysRoot: sysRoot, now: now}
}

// Collect reads every source once. Sources a machine does not have (no
// hwmon, no thermal class, no cpufreq) are empty, not errors; only an
// unreadable root is an error.
func (c *Collector) Collect() (Snapshot, error) {
	if _, err := os.Stat(c.sysRoot); err != nil {
		return Snapshot{}, fmt.Errorf("thermal: sysfs root: %w", err)
	}
	s := Snapshot{At: c.now()}
	var err error
	if s.Sensors, err = readHwmon(c.sysRoot); err != nil {
		return Snapshot{}, err
	}
	if s.Zones, s.Cooling, err = readThermalClass(c.sysRoot); err != nil {
		return Snapshot{}, err
	}
	if s.CPUs, err = readCPUs(c.sysRoot); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}
