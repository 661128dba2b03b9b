package thermal

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

var tempInput = regexp.MustCompile(`^(temp[0-9]+)_input$`)

// readHwmon reads every temperature input of /sys/class/hwmon/hwmon*.
func readHwmon(root string) ([]Sensor, error) {
	chips, err := globSorted(filepath.Join(root, "class", "hwmon", "hwmon*"))
	if err != nil {
		return nil, fmt.Errorf("thermal: hwmon: %w", err)
	}
	var out []Sensor
	for _, dir := range chips {
		out = append(out, readChip(dir)...)
	}
	return out, nil
}

// readChip reads one hwmon chip. Old drivers keep their attributes in the
// device/ subdirectory instead of the hwmon directory itself.
func readChip(dir string) []Sensor {
	chip := filepath.Base(dir)
	name, err := readAttr(filepath.Join(dir, "name"))
	if err != nil {
		name, _ = readAttr(filepath.Join(dir, "device", "name"))
	}
	if name == "" {
		name = chip
	}
	attrDir := dir
	sensors := tempSensors(attrDir)
	if len(sensors) == 0 {
		attrDir = filepath.Join(dir, "device")
		sensors = tempSensors(attrDir)
	}
	var out []Sensor
	for _, sn := range sensors {
		p := filepath.Join(attrDir, sn)
		t, ok := readMilli(p + "_input")
		if !ok {
			continue
		}
		s := Sensor{Chip: chip, ChipName: name, Sensor: sn, TempCelsius: t}
		s.Label, _ = readAttr(p + "_label")
		s.MaxCelsius, _ = readMilli(p + "_max")
		s.CritCelsius, _ = readMilli(p + "_crit")
		out = append(out, s)
	}
	return out
}

// tempSensors lists the temp<N> prefixes that have an _input file in dir.
func tempSensors(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if m := tempInput.FindStringSubmatch(e.Name()); m != nil {
			out = append(out, m[1])
		}
	}
	sortByNumber(out)
	return out
}
