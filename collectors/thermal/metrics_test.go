package thermal

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/exporters/prometheus"
)

// The intel-server capture's sensors, zones, cooling devices (one of them
// intel_powerclamp at -1) and CPUs become described series that promtool
// accepts.
func TestMetricsOfFixture(t *testing.T) {
	s, err := New("testdata/intel-server", fixedNow).Collect()
	if err != nil {
		t.Fatal(err)
	}
	set := Metrics(s)
	if u := prometheus.Undescribed(set); len(u) > 0 {
		t.Fatalf("undescribed families: %v", u)
	}
	var b bytes.Buffer
	if err := prometheus.Write(&b, false, set); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`anydiag_thermal_cooling_device_state{device="cooling_device2",type="intel_powerclamp"} -1`,
		`anydiag_thermal_cooling_device_max_state{device="cooling_device2",type="intel_powerclamp"} 50`,
		`anydiag_thermal_cooling_device_max_state{device="cooling_device0",type="Processor"} 3`,
		`anydiag_thermal_sensor_celsius{chip="thermal_zone"`,
		`anydiag_cpu_frequency_ratio{cpu="0"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &b
	if res, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(res)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, res, out)
	}
}
