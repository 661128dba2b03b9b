package thermal

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func TestCollectFixtures(t *testing.T) {
	tests := []struct {
		dir                 string
		sensors, zones      int
		cooling, cpus       int
		throttle            bool
		sensor              string // Name() of a sensor checked below
		tempC, maxC, critC  float64
		zoneCritC           float64
		curKHz, maxKHz      uint64
		firstCoolingCurrent int64
	}{
		{dir: "intel-server", sensors: 7, zones: 3, cooling: 3, cpus: 3, throttle: true,
			sensor: "coretemp/temp3 (Core 1)", tempC: 95, maxC: 89, critC: 99,
			zoneCritC: 105, curKHz: 2400000, maxKHz: 3700000},
		{dir: "amd-k10temp", sensors: 4, zones: 0, cooling: 0, cpus: 2,
			sensor: "k10temp/temp1 (Tctl)", tempC: 61.25, maxC: 70, critC: 95,
			curKHz: 1500000, maxKHz: 2250000},
		{dir: "rpi-cpu-thermal", sensors: 1, zones: 1, cooling: 0, cpus: 2,
			sensor: "cpu_thermal/temp1", tempC: 48.686, zoneCritC: 110,
			curKHz: 600000, maxKHz: 1500000},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			s, err := New(filepath.Join("testdata", tt.dir), fixedNow).Collect()
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Sensors) != tt.sensors || len(s.Zones) != tt.zones || len(s.Cooling) != tt.cooling || len(s.CPUs) != tt.cpus {
				t.Fatalf("got %d sensors, %d zones, %d cooling, %d cpus; want %d, %d, %d, %d",
					len(s.Sensors), len(s.Zones), len(s.Cooling), len(s.CPUs), tt.sensors, tt.zones, tt.cooling, tt.cpus)
			}
			var found bool
			for _, sn := range s.Sensors {
				if sn.Name() != tt.sensor {
					continue
				}
				found = true
				if sn.TempCelsius != tt.tempC || sn.MaxCelsius != tt.maxC || sn.CritCelsius != tt.critC {
					t.Errorf("%s = %+v, want temp %v max %v crit %v", tt.sensor, sn, tt.tempC, tt.maxC, tt.critC)
				}
			}
			if !found {
				t.Errorf("sensor %q not found in %+v", tt.sensor, s.Sensors)
			}
			if tt.zones > 0 && s.Zones[0].CritCelsius() != tt.zoneCritC {
				t.Errorf("zone crit = %v, want %v", s.Zones[0].CritCelsius(), tt.zoneCritC)
			}
			c := s.CPUs[0]
			if c.HasThrottle != tt.throttle || c.CurFreqKHz != tt.curKHz || c.MaxFreqKHz != tt.maxKHz {
				t.Errorf("cpu0 = %+v", c)
			}
			if !s.At.Equal(fixedNow()) {
				t.Errorf("At = %v", s.At)
			}
		})
	}
}

func TestIntelDetails(t *testing.T) {
	s, err := New("testdata/intel-server", fixedNow).Collect()
	if err != nil {
		t.Fatal(err)
	}
	pc := s.Cooling[2]
	if pc.Type != "intel_powerclamp" || pc.CurState != -1 || pc.MaxState != 50 {
		t.Errorf("powerclamp = %+v", pc)
	}
	if c := s.CPUs[2]; c.Package != 1 || c.Core != 0 || c.CoreThrottleCount != 6 || c.PackageThrottleCount != 12 {
		t.Errorf("cpu2 = %+v", c)
	}
	if z := s.Zones[2]; z.Type != "x86_pkg_temp" || len(z.Trips) != 2 || z.CritCelsius() != 0 {
		t.Errorf("zone2 = %+v", z)
	}
}

func TestCollectErrors(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "missing"), nil).Collect(); err == nil {
		t.Fatal("missing root: want error")
	}
	// Garbage and unreadable attributes are skipped, never a panic.
	root := t.TempDir()
	write(t, root, "class/hwmon/hwmon0/name", "weird")
	write(t, root, "class/hwmon/hwmon0/temp1_input", "not-a-number")
	write(t, root, "class/hwmon/hwmon0/temp2_input", "41000")
	write(t, root, "class/thermal/thermal_zone0/type", "gone")
	write(t, root, "class/thermal/cooling_device0/cur_state", "x")
	write(t, root, "devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "-5")
	s, err := New(root, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sensors) != 1 || s.Sensors[0].Sensor != "temp2" || len(s.Zones) != 0 || len(s.Cooling) != 0 {
		t.Errorf("snapshot = %+v", s)
	}
	if len(s.CPUs) != 1 || s.CPUs[0].HasThrottle || s.CPUs[0].Package != -1 {
		t.Errorf("cpus = %+v", s.CPUs)
	}
}

// TestOldDriverDeviceDir covers drivers that keep attributes in hwmonN/device.
func TestOldDriverDeviceDir(t *testing.T) {
	root := t.TempDir()
	write(t, root, "class/hwmon/hwmon0/device/name", "it8728")
	write(t, root, "class/hwmon/hwmon0/device/temp1_input", "33000")
	write(t, root, "class/hwmon/hwmon0/device/temp1_max", "70000")
	s, err := New(root, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sensors) != 1 || s.Sensors[0].ChipName != "it8728" || s.Sensors[0].MaxCelsius != 70 {
		t.Errorf("sensors = %+v", s.Sensors)
	}
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCollectIntel(b *testing.B) {
	c := New("testdata/intel-server", fixedNow)
	for b.Loop() {
		if _, err := c.Collect(); err != nil {
			b.Fatal(err)
		}
	}
}
