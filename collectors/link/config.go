package link

import (
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// DefaultInterval is applied by Config.Defaults.
const DefaultInterval = 10 * time.Second

// Config is the `collectors.link:` section of the agent configuration:
// interface state and counters.
type Config struct {
	Enabled  bool              `yaml:"enabled" json:"enabled"`
	Interval yamlconf.Duration `yaml:"interval" json:"interval"`
	// Interfaces limits the collector to these names (Snapshot.Only); empty
	// reads them all.
	Interfaces []string `yaml:"interfaces" json:"interfaces"`
}

// Defaults fills an unset interval.
func (c *Config) Defaults() {
	if c.Interval == 0 {
		c.Interval = yamlconf.Duration(DefaultInterval)
	}
}
