package thermal

import (
	"fmt"
	"path/filepath"
	"strings"
)

// readThermalClass reads /sys/class/thermal: thermal zones with their trip
// points, and cooling devices.
func readThermalClass(root string) ([]Zone, []CoolingDevice, error) {
	base := filepath.Join(root, "class", "thermal")
	dirs, err := globSorted(filepath.Join(base, "thermal_zone[0-9]*"))
	if err != nil {
		return nil, nil, fmt.Errorf("thermal: zones: %w", err)
	}
	var zones []Zone
	for _, d := range dirs {
		// A zone whose sensor is gone answers the temp read with an error
		// (ENODATA, EIO); it is skipped rather than reported as 0 °C.
		t, ok := readMilli(filepath.Join(d, "temp"))
		if !ok {
			continue
		}
		z := Zone{Zone: filepath.Base(d), TempCelsius: t}
		z.Type, _ = readAttr(filepath.Join(d, "type"))
		z.Trips = readTrips(d)
		zones = append(zones, z)
	}
	dirs, err = globSorted(filepath.Join(base, "cooling_device[0-9]*"))
	if err != nil {
		return nil, nil, fmt.Errorf("thermal: cooling devices: %w", err)
	}
	var cool []CoolingDevice
	for _, d := range dirs {
		cur, err1 := readInt(filepath.Join(d, "cur_state"))
		maxState, err2 := readInt(filepath.Join(d, "max_state"))
		if err1 != nil || err2 != nil {
			continue
		}
		c := CoolingDevice{Device: filepath.Base(d), CurState: cur, MaxState: maxState}
		c.Type, _ = readAttr(filepath.Join(d, "type"))
		cool = append(cool, c)
	}
	return zones, cool, nil
}

// readTrips reads trip_point_<N>_{type,temp} of one zone.
func readTrips(dir string) []TripPoint {
	types, err := globSorted(filepath.Join(dir, "trip_point_[0-9]*_type"))
	if err != nil {
		return nil
	}
	var out []TripPoint
	for _, tp := range types {
		typ, err := readAttr(tp)
		if err != nil {
			continue
		}
		t, ok := readMilli(strings.TrimSuffix(tp, "_type") + "_temp")
		if !ok {
			continue
		}
		out = append(out, TripPoint{Type: typ, TempCelsius: t})
	}
	return out
}
