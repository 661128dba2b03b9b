package optics

import (
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// DefaultInterval is applied by Config.Defaults.
const DefaultInterval = 30 * time.Second

// Config is the `collectors.optics:` section of the agent configuration:
// transceiver DOM of the listed interfaces and dumps, or, when neither is
// listed, of every interface whose driver exposes a module (interfaces
// without one, such as lo, veth and bridges, are skipped silently).
type Config struct {
	Enabled  bool              `yaml:"enabled" json:"enabled"`
	Interval yamlconf.Duration `yaml:"interval" json:"interval"`
	// Interfaces are read from the device (needs CAP_NET_ADMIN).
	Interfaces []string `yaml:"interfaces" json:"interfaces"`
	// EEPROMFiles maps an interface name to a raw EEPROM dump read instead of
	// the device (for modules behind a switch ASIC, and for the demo).
	EEPROMFiles map[string]string `yaml:"eeprom_files" json:"eeprom_files,omitempty"`
	// RxPowerDBm is the operator's acceptable receive range, checked besides
	// the module's own thresholds (by analyzers/thresholds).
	RxPowerDBm *Range `yaml:"rx_power_dbm" json:"rx_power_dbm,omitempty"`
}

// Range is an inclusive [min, max] interval.
type Range struct {
	Min float64 `yaml:"min" json:"min"`
	Max float64 `yaml:"max" json:"max"`
}

// Sources are what Read reads for this configuration: the dumps, then the
// named interfaces; every interface with a module when nothing is named.
func (c *Config) Sources() Sources {
	return Sources{Files: c.EEPROMFiles, Interfaces: c.Interfaces,
		Scan: len(c.Interfaces) == 0 && len(c.EEPROMFiles) == 0}
}

// Defaults fills an unset interval.
func (c *Config) Defaults() {
	if c.Interval == 0 {
		c.Interval = yamlconf.Duration(DefaultInterval)
	}
}

// Check reports semantic problems by key path; path is where the section
// sits in the document (for example "collectors.optics").
func (c *Config) Check(p *yamlconf.Problems, path string) {
	if r := c.RxPowerDBm; r != nil && r.Min >= r.Max {
		p.Add(yamlconf.Join(path, "rx_power_dbm"), "min %.2f must be below max %.2f", r.Min, r.Max)
	}
}
