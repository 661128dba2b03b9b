package thermal

import (
	"fmt"
	"path/filepath"
)

// readCPUs reads the throttle counters, topology and frequency of every
// logical CPU under devices/system/cpu.
func readCPUs(root string) ([]CPU, error) {
	dirs, err := globSorted(filepath.Join(root, "devices", "system", "cpu", "cpu[0-9]*"))
	if err != nil {
		return nil, fmt.Errorf("thermal: cpus: %w", err)
	}
	var out []CPU
	for _, d := range dirs {
		c := CPU{CPU: trailingNumber(d), Package: -1, Core: -1}
		if v, err := readInt(filepath.Join(d, "topology", "physical_package_id")); err == nil {
			c.Package = int(v)
		}
		if v, err := readInt(filepath.Join(d, "topology", "core_id")); err == nil {
			c.Core = int(v)
		}
		core, err1 := readInt(filepath.Join(d, "thermal_throttle", "core_throttle_count"))
		pkg, err2 := readInt(filepath.Join(d, "thermal_throttle", "package_throttle_count"))
		if err1 == nil && err2 == nil && core >= 0 && pkg >= 0 {
			c.HasThrottle = true
			c.CoreThrottleCount, c.PackageThrottleCount = uint64(core), uint64(pkg)
		}
		if v, err := readInt(filepath.Join(d, "cpufreq", "scaling_cur_freq")); err == nil && v > 0 {
			c.CurFreqKHz = uint64(v)
		}
		if v, err := readInt(filepath.Join(d, "cpufreq", "cpuinfo_max_freq")); err == nil && v > 0 {
			c.MaxFreqKHz = uint64(v)
		}
		out = append(out, c)
	}
	return out, nil
}
