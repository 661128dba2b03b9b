package thermal

import (
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Defaults applied by Config.Defaults.
const (
	DefaultInterval  = 15 * time.Second
	DefaultSysfsRoot = "/sys"
)

// Config is the `collectors.thermal:` section of the agent configuration:
// hwmon, thermal zones, cooling devices and CPU throttling under SysfsRoot.
type Config struct {
	Enabled   bool              `yaml:"enabled" json:"enabled"`
	Interval  yamlconf.Duration `yaml:"interval" json:"interval"`
	SysfsRoot string            `yaml:"sysfs_root" json:"sysfs_root"`
}

// Defaults fills an unset interval and sysfs root.
func (c *Config) Defaults() {
	if c.Interval == 0 {
		c.Interval = yamlconf.Duration(DefaultInterval)
	}
	if c.SysfsRoot == "" {
		c.SysfsRoot = DefaultSysfsRoot
	}
}
