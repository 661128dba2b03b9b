package optics

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func TestConfigCheckAndDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Range
		want string
	}{
		{"unset", nil, "<nil>"},
		{"valid", &Range{Min: -14, Max: 2}, "<nil>"},
		{"empty", &Range{Min: -3, Max: -3}, "collectors.optics.rx_power_dbm: min -3.00 must be below max -3.00"},
		{"reversed", &Range{Min: 2, Max: -14}, "collectors.optics.rx_power_dbm: min 2.00 must be below max -14.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{RxPowerDBm: tc.r}
			var p yamlconf.Problems
			c.Check(&p, "collectors.optics")
			if got := fmt.Sprint(p.Err()); got != tc.want {
				t.Errorf("Check: %s, want %s", got, tc.want)
			}
		})
	}
	c := Config{Interfaces: []string{"eth0"}, EEPROMFiles: map[string]string{"eth1": "eth1.bin"}}
	c.Defaults()
	if c.Interval.D() != 30*time.Second {
		t.Errorf("default interval %s", c.Interval.D())
	}
	// The agent reads what is listed; it scans only when nothing is.
	if s := c.Sources(); s.Scan || len(s.Interfaces) != 1 || s.Files["eth1"] != "eth1.bin" {
		t.Errorf("Sources() = %+v", s)
	}
	if s := (&Config{Enabled: true}).Sources(); !s.Scan {
		t.Errorf("nothing listed: Sources() = %+v, want a scan", s)
	}
	// A scan of this host (lo and the like have no module) finds nothing
	// to complain about (as root: others may not read EEPROMs at all).
	if os.Geteuid() != 0 {
		return
	}
	if _, err := Read(t.Context(), (&Config{Enabled: true}).Sources()); err != nil {
		t.Errorf("scan: %v", err)
	}
}
