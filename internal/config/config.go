// Package config is the agent's configuration file: node identity, anycast
// prefixes, the BGP speaker, collectors, health checks, policy and exporters.
// Decoding is strict and every problem is reported at once with its line (see
// internal/yamlconf). Sections owned by a package (health checks, policy,
// speakers, analyzers, collectors) are that package's own Config type, so
// the package documents, defaults and validates its part.
package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/exporters/alertmanager"
	"github.com/anydiag/anydiag/exporters/push"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers/bird"
	"github.com/anydiag/anydiag/speakers/frr"
	"github.com/anydiag/anydiag/speakers/gobgp"
	"github.com/anydiag/anydiag/speakers/gobgpapi"
)

// Config is the whole agent configuration file.
type Config struct {
	Node       Node          `yaml:"node" json:"node"`
	Anycast    Anycast       `yaml:"anycast" json:"anycast"`
	Speaker    Speaker       `yaml:"speaker" json:"speaker"`
	Health     health.Config `yaml:"health" json:"health"`
	Policy     policy.Config `yaml:"policy" json:"policy"`
	Collectors Collectors    `yaml:"collectors" json:"collectors"`
	Exporters  Exporters     `yaml:"exporters" json:"exporters"`

	warnings  []yamlconf.Problem
	skipFiles bool
}

// Caps on list sizes: an anycast node announces a handful of prefixes, and
// a file listing millions would take the agent's memory and every
// evaluation's time.
const (
	MaxPrefixes     = 1024
	MaxRules        = 256
	MaxHealthChecks = 256
)

// Speaker chooses the BGP speaker that carries out the policy's decisions:
// exactly one of its sections is set, or none for a node that only
// collects and diagnoses.
type Speaker struct {
	// GoBGP is the embedded speaker: the agent peers with the upstreams itself.
	GoBGP *gobgp.Config `yaml:"gobgp" json:"gobgp,omitempty"`
	// BIRD drives a BIRD 2 daemon over its control socket.
	BIRD *bird.Config `yaml:"bird" json:"bird,omitempty"`
	// FRR drives FRR's bgpd over vtysh.
	FRR *frr.Config `yaml:"frr" json:"frr,omitempty"`
	// GoBGPAPI drives an external gobgpd over its gRPC API.
	GoBGPAPI *gobgpapi.Config `yaml:"gobgpapi" json:"gobgpapi,omitempty"`
}

// Kind names the configured speaker, "" when none is.
func (s Speaker) Kind() string {
	switch {
	case s.GoBGP != nil:
		return "gobgp"
	case s.BIRD != nil:
		return "bird"
	case s.FRR != nil:
		return "frr"
	case s.GoBGPAPI != nil:
		return "gobgpapi"
	}
	return ""
}

// Node is who this PoP is: the identity every metric and finding carries.
type Node struct {
	Name      string   `yaml:"name" json:"name"`
	Site      string   `yaml:"site" json:"site"`
	Continent string   `yaml:"continent" json:"continent"`
	Latitude  *float64 `yaml:"latitude" json:"latitude,omitempty"`
	Longitude *float64 `yaml:"longitude" json:"longitude,omitempty"`
}

// Continents are the codes accepted for node.continent (the two-letter codes
// used by GeoIP databases).
var Continents = map[string]string{
	"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
	"NA": "North America", "OC": "Oceania", "SA": "South America",
}

// Anycast lists the service prefixes this node announces.
type Anycast struct {
	// Interface holds the anycast addresses: lo or a dummy interface.
	Interface string                `yaml:"interface" json:"interface"`
	Prefixes  []yamlconf.HostPrefix `yaml:"prefixes" json:"prefixes"`
	// Canary is announced and verified first, before the service prefixes.
	Canary *yamlconf.HostPrefix `yaml:"canary" json:"canary,omitempty"`
}

// Collectors configures what the agent reads and how often: one field per
// collector, each that collector's own Config (its package documents,
// defaults and checks its keys).
type Collectors struct {
	Optics  optics.Config  `yaml:"optics" json:"optics"`
	Thermal thermal.Config `yaml:"thermal" json:"thermal"`
	Link    link.Config    `yaml:"link" json:"link"`
	Host    host.Config    `yaml:"host" json:"host"`
	BMP     BMP            `yaml:"bmp" json:"bmp"`
}

// each calls f with the key path and a pointer to every collector's
// section, so a collector's Defaults and Check (when its Config has them)
// run without a line here: adding a collector is adding its field.
func (c *Collectors) each(f func(path string, section any)) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		f("collectors."+key, v.Field(i).Addr().Interface())
	}
}

// BMP runs a BMP station inside the agent.
type BMP struct {
	Enabled bool               `yaml:"enabled" json:"enabled"`
	Listen  *yamlconf.AddrPort `yaml:"listen" json:"listen,omitempty"`
	// Dial lists routers configured to listen for BMP (active mode).
	Dial []yamlconf.AddrPort `yaml:"dial" json:"dial,omitempty"`
	// Limits bound what routers and API clients can make the station hold
	// (bmp/README.md lists each, its default and what happens at it).
	Limits bmp.Limits `yaml:"limits" json:"limits"`
	// Flap configures the flap trackers (damping profiles) fed by the
	// station; anycast.prefixes are its own prefixes.
	Flap flap.Config `yaml:"flap" json:"flap"`
}

// Exporters configures what the agent serves and pushes.
type Exporters struct {
	// Listen serves /metrics, /healthz, /api/v1/... (default 127.0.0.1:9178).
	Listen *yamlconf.AddrPort `yaml:"listen" json:"listen,omitempty"`
	// TokenFile holds the bearer token of the control API and the webhook.
	TokenFile string       `yaml:"token_file" json:"token_file,omitempty"`
	Push      *push.Config `yaml:"push" json:"push,omitempty"`
	// Alertmanager enables the webhook receiver POST /api/v1/alertmanager.
	Alertmanager *alertmanager.Config `yaml:"alertmanager" json:"alertmanager,omitempty"`
}

// DefaultListen is where the agent serves when exporters.listen is not set.
var DefaultListen = netip.MustParseAddrPort("127.0.0.1:9178")

// Load reads, decodes and validates a configuration file, filling defaults.
// Validation is everything the agent refuses at start and on reload,
// cross-section checks and token files included, so `anydiag config check`
// and the agent agree.
func Load(path string) (*Config, error) {
	return load(path, false)
}

// LoadSkippingFiles is Load without reading the files the configuration
// names (token files): for checking a file on another machine than the
// agent's, such as in CI before deploying it.
func LoadSkippingFiles(path string) (*Config, error) {
	return load(path, true)
}

func load(path string, skipFiles bool) (*Config, error) {
	c := Config{skipFiles: skipFiles}
	warns, err := yamlconf.LoadAll(path, &c)
	if err != nil {
		return nil, err
	}
	c.warnings = warns
	c.applyDefaults()
	return &c, nil
}

// Parse decodes and validates configuration bytes; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	warns, err := yamlconf.DecodeAll(name, data, &c)
	if err != nil {
		return nil, err
	}
	c.warnings = warns
	c.applyDefaults()
	return &c, nil
}

// Warnings are the risky but accepted settings found by Load or Parse
// (an API reachable from the network without TLS, an unauthenticated
// webhook); the agent logs them and `config check` prints them.
func (c *Config) Warnings() []yamlconf.Problem { return c.warnings }

// Hint explains the shape of keys that are easy to get wrong, added to a
// wrong-type problem (see yamlconf.Hinter).
func (c *Config) Hint(path string) string {
	switch path {
	case "collectors.optics.eeprom_files":
		return "eeprom_files maps an interface name to the file holding its raw EEPROM dump, one per line: eeprom_files: {eth0: /var/lib/anydiag/eth0.bin}"
	case "collectors.optics.interfaces", "collectors.link.interfaces":
		return "list interface names: [eth0, eth1]"
	case "anycast.prefixes":
		return "list host routes: [192.0.2.1/32, 2001:db8::1/128]"
	case "policy.rules":
		return "rules is a list; each item starts with - when: {...}"
	case "health.checks":
		return "checks is a list; each item starts with - name: ..."
	}
	return ""
}

func (c *Config) applyDefaults() {
	if c.Anycast.Interface == "" {
		c.Anycast.Interface = "lo"
	}
	def := func(d *yamlconf.Duration, v time.Duration) {
		if *d == 0 {
			*d = yamlconf.Duration(v)
		}
	}
	c.Collectors.each(func(_ string, sec any) {
		if d, ok := sec.(interface{ Defaults() }); ok {
			d.Defaults()
		}
	})
	if c.Exporters.Listen == nil {
		c.Exporters.Listen = &yamlconf.AddrPort{AddrPort: DefaultListen}
	}
	if c.Exporters.Push != nil {
		def(&c.Exporters.Push.Interval, 15*time.Second)
	}
}

// Validate checks relations between fields; yamlconf maps each path to its line.
func (c *Config) Validate(p *yamlconf.Problems) {
	n := c.Node
	if n.Name == "" {
		p.Add("node.name", "required: the node's name labels every metric and finding")
	}
	if n.Continent != "" {
		if _, ok := Continents[n.Continent]; !ok {
			p.Add("node.continent", "unknown continent %q (one of %s)", n.Continent, continentList())
		}
	}
	if n.Latitude != nil && (*n.Latitude < -90 || *n.Latitude > 90) {
		p.Add("node.latitude", "%v is outside -90..90", *n.Latitude)
	}
	if n.Longitude != nil && (*n.Longitude < -180 || *n.Longitude > 180) {
		p.Add("node.longitude", "%v is outside -180..180", *n.Longitude)
	}
	if (n.Latitude == nil) != (n.Longitude == nil) {
		p.Add("node", "latitude and longitude go together: set both or neither")
	}

	if len(c.Anycast.Prefixes) == 0 {
		p.Add("anycast.prefixes", "required: list the anycast service addresses (host routes) this node announces")
	}
	if n := len(c.Anycast.Prefixes); n > MaxPrefixes {
		p.Add("anycast.prefixes", "%d prefixes, more than the %d the agent accepts", n, MaxPrefixes)
	}
	if n := len(c.Policy.Rules); n > MaxRules {
		p.Add("policy.rules", "%d rules, more than the %d the agent accepts", n, MaxRules)
	}
	if n := len(c.Health.Checks); n > MaxHealthChecks {
		p.Add("health.checks", "%d health checks, more than the %d the agent accepts", n, MaxHealthChecks)
	}
	seen := map[netip.Prefix]int{}
	for i, pr := range c.Anycast.Prefixes {
		if j, dup := seen[pr.Prefix]; dup {
			p.Add(fmt.Sprintf("anycast.prefixes[%d]", i), "%s is listed twice (also at index %d)", pr.Prefix, j)
		}
		seen[pr.Prefix] = i
	}
	if cn := c.Anycast.Canary; cn != nil {
		if _, dup := seen[cn.Prefix]; dup {
			p.Add("anycast.canary", "the canary %s must differ from the service prefixes", cn.Prefix)
		}
	}

	c.Collectors.each(func(path string, sec any) {
		if ch, ok := sec.(interface {
			Check(*yamlconf.Problems, string)
		}); ok {
			ch.Check(p, path)
		}
	})
	if b := c.Collectors.BMP; b.Enabled && b.Listen == nil && len(b.Dial) == 0 {
		p.Add("collectors.bmp", "enabled but neither listen nor dial is set")
	}
	if _, err := flap.NewSetFromConfig(c.Collectors.BMP.Flap); err != nil {
		p.Add("collectors.bmp.flap", "%v", err)
	}
	sp := c.Speaker
	speakers := 0
	if sp.GoBGP != nil {
		speakers++
		sp.GoBGP.Check(p, "speaker.gobgp")
	}
	if sp.BIRD != nil {
		speakers++
		sp.BIRD.Check(p, "speaker.bird")
	}
	if sp.FRR != nil {
		speakers++
		sp.FRR.Check(p, "speaker.frr")
	}
	if sp.GoBGPAPI != nil {
		speakers++
		sp.GoBGPAPI.Check(p, "speaker.gobgpapi")
	}
	if speakers > 1 {
		p.Add("speaker", "set one of gobgp, bird, frr or gobgpapi, not %d", speakers)
	}
	c.Health.Check(p, "health")
	c.Policy.Check(p, "policy")
	if am := c.Exporters.Alertmanager; am != nil {
		am.Check(p, "exporters.alertmanager")
	}
	if ps := c.Exporters.Push; ps != nil {
		ps.Check(p, "exporters.push")
	}
	c.crossCheck(p)
}

func continentList() string {
	return "AF, AN, AS, EU, NA, OC, SA"
}
