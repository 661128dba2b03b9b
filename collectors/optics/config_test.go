package optics

import (
	"fmt"
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
	// The agent reads what is listed, never every interface.
	if s := c.Sources(); s.Scan || len(s.Interfaces) != 1 || s.Files["eth1"] != "eth1.bin" {
		t.Errorf("Sources() = %+v", s)
	}
}
