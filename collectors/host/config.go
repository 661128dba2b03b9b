package host

import (
	"fmt"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// DefaultInterval is applied by Config.Defaults.
const DefaultInterval = time.Minute

// Config is the `collectors.host:` section of the agent configuration:
// kernel prerequisites and the anycast interface.
type Config struct {
	Enabled  bool              `yaml:"enabled" json:"enabled"`
	Interval yamlconf.Duration `yaml:"interval" json:"interval"`
	// Encapsulations are the tunnels this node carries, whose headers must
	// fit the underlay's MTU.
	Encapsulations []Encapsulation `yaml:"encapsulations" json:"encapsulations,omitempty"`
}

// Defaults fills an unset interval.
func (c *Config) Defaults() {
	if c.Interval == 0 {
		c.Interval = yamlconf.Duration(DefaultInterval)
	}
}

// Check reports semantic problems by key path; path is where the section
// sits in the document (for example "collectors.host").
func (c *Config) Check(p *yamlconf.Problems, path string) {
	for i, e := range c.Encapsulations {
		ep := fmt.Sprintf("%s[%d]", yamlconf.Join(path, "encapsulations"), i)
		if _, err := e.OverheadBytes(); err != nil {
			p.Add(ep+".kind", "%v", err)
		}
		if e.Underlay == "" {
			p.Add(ep+".underlay", "required: the interface the encapsulated packets leave through")
		}
		if e.Overlay == "" && e.InnerMTU <= 0 {
			p.Add(ep, "set overlay (the tunnel interface) or inner_mtu")
		}
	}
}
