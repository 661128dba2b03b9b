package thermal

import (
	"strings"
	"testing"

	"github.com/anydiag/anydiag/exporters/prometheus/promtest"
)

// The intel-server capture's sensors, zones, cooling devices (one of them
// intel_powerclamp at -1) and CPUs become described series that promtool
// accepts.
func TestMetricsOfFixture(t *testing.T) {
	s, err := New("testdata/intel-server", fixedNow).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := promtest.Text(t, Metrics(s))
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
}
