// Package health runs service health checks (HTTP(S), TCP, DNS, ICMP, exec)
// on a schedule and keeps, per check, a rise/fall state machine whose state
// the policy uses to decide whether the node may keep announcing.
package health

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/miekg/dns"
)

// Check types.
const (
	TypeHTTP = "http"
	TypeTCP  = "tcp"
	TypeDNS  = "dns"
	TypeICMP = "icmp"
	TypeExec = "exec"
)

// Defaults applied by Config.Defaults.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 3
	DefaultFall     = 2
)

// Config is the `health:` section of the agent configuration.
type Config struct {
	Checks []CheckConfig `yaml:"checks" json:"checks"`
}

// CheckConfig describes one check. Type selects which of the type-specific
// fields apply; Check reports fields set for another type.
type CheckConfig struct {
	Name     string            `yaml:"name" json:"name"`
	Type     string            `yaml:"type" json:"type"`
	Interval yamlconf.Duration `yaml:"interval" json:"interval"`
	Timeout  yamlconf.Duration `yaml:"timeout" json:"timeout"`
	Rise     int               `yaml:"rise" json:"rise"`
	Fall     int               `yaml:"fall" json:"fall"`

	// http
	URL          string `yaml:"url,omitempty" json:"url,omitempty"`
	ExpectStatus int    `yaml:"expect_status,omitempty" json:"expect_status,omitempty"`
	BodyMatch    string `yaml:"body_match,omitempty" json:"body_match,omitempty"`
	// TLSVerify checks the server certificate of https URLs; nil means true.
	TLSVerify *bool  `yaml:"tls_verify,omitempty" json:"tls_verify,omitempty"`
	Host      string `yaml:"host,omitempty" json:"host,omitempty"`

	// tcp: host:port
	Address string `yaml:"address,omitempty" json:"address,omitempty"`

	// dns
	Server       yamlconf.AddrPort `yaml:"server,omitempty" json:"server,omitzero"`
	Query        string            `yaml:"query,omitempty" json:"query,omitempty"`
	QType        string            `yaml:"qtype,omitempty" json:"qtype,omitempty"`
	RCode        string            `yaml:"rcode,omitempty" json:"rcode,omitempty"`
	ExpectAnswer []string          `yaml:"expect_answer,omitempty" json:"expect_answer,omitempty"`
	Transport    string            `yaml:"transport,omitempty" json:"transport,omitempty"`

	// icmp
	Target     yamlconf.Addr `yaml:"target,omitempty" json:"target,omitzero"`
	Privileged bool          `yaml:"privileged,omitempty" json:"privileged,omitempty"`

	// exec
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
}

// Defaults fills unset interval, timeout, rise, fall and per-type defaults.
func (c *Config) Defaults() {
	for i := range c.Checks {
		c.Checks[i].defaults()
	}
}

func (c *CheckConfig) defaults() {
	if c.Interval == 0 {
		c.Interval = yamlconf.Duration(DefaultInterval)
	}
	if c.Timeout == 0 {
		c.Timeout = yamlconf.Duration(DefaultTimeout)
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	switch c.Type {
	case TypeHTTP:
		if c.ExpectStatus == 0 {
			c.ExpectStatus = 200
		}
	case TypeDNS:
		if c.QType == "" {
			c.QType = "A"
		}
		if c.RCode == "" {
			c.RCode = "NOERROR"
		}
		if c.Transport == "" {
			c.Transport = "udp"
		}
	}
}

// Check reports semantic problems by key path; path is where the section
// sits in the document (for example "health"). Unset numbers are accepted
// because Defaults fills them.
func (c *Config) Check(p *yamlconf.Problems, path string) {
	seen := map[string]bool{}
	for i := range c.Checks {
		cp := fmt.Sprintf("%s.checks[%d]", path, i)
		cc := &c.Checks[i]
		if cc.Name == "" {
			p.Add(cp+".name", "a check needs a name")
		} else if seen[cc.Name] {
			p.Add(cp+".name", "check name %q is used twice", cc.Name)
		}
		seen[cc.Name] = true
		cc.check(p, cp)
	}
}

func (c *CheckConfig) check(p *yamlconf.Problems, path string) {
	if c.Rise < 0 {
		p.Add(path+".rise", "rise must be at least 1")
	}
	if c.Fall < 0 {
		p.Add(path+".fall", "fall must be at least 1")
	}
	if c.Interval != 0 && c.Interval.D() < 10*time.Millisecond {
		p.Add(path+".interval", "interval %s is too short (at least 10ms)", c.Interval.D())
	}
	if c.Interval != 0 && c.Timeout != 0 && c.Timeout > c.Interval {
		p.Add(path+".timeout", "timeout %s is longer than the interval %s", c.Timeout.D(), c.Interval.D())
	}
	typeOnly := func(set bool, key, want string) {
		if set && c.Type != want {
			p.Add(path+"."+key, "%s applies to %s checks only", key, want)
		}
	}
	typeOnly(c.URL != "", "url", TypeHTTP)
	typeOnly(c.ExpectStatus != 0, "expect_status", TypeHTTP)
	typeOnly(c.BodyMatch != "", "body_match", TypeHTTP)
	typeOnly(c.TLSVerify != nil, "tls_verify", TypeHTTP)
	typeOnly(c.Host != "", "host", TypeHTTP)
	typeOnly(c.Address != "", "address", TypeTCP)
	typeOnly(c.Server.IsValid(), "server", TypeDNS)
	typeOnly(c.Query != "", "query", TypeDNS)
	typeOnly(c.Transport != "", "transport", TypeDNS)
	typeOnly(len(c.ExpectAnswer) > 0, "expect_answer", TypeDNS)
	typeOnly(c.Target.IsValid(), "target", TypeICMP)
	typeOnly(c.Privileged, "privileged", TypeICMP)
	typeOnly(len(c.Command) > 0, "command", TypeExec)

	switch c.Type {
	case TypeHTTP:
		u, err := url.Parse(c.URL)
		switch {
		case c.URL == "":
			p.Add(path+".url", "an http check needs a url")
		case err != nil:
			p.Add(path+".url", "invalid url: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			p.Add(path+".url", "url scheme must be http or https, not %q", u.Scheme)
		case u.Host == "":
			p.Add(path+".url", "url %q has no host", c.URL)
		}
		if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
			p.Add(path+".expect_status", "status %d is not an HTTP status", c.ExpectStatus)
		}
		if _, err := regexp.Compile(c.BodyMatch); err != nil {
			p.Add(path+".body_match", "invalid regular expression: %v", err)
		}
	case TypeTCP:
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			p.Add(path+".address", "a tcp check needs address host:port: %v", err)
		}
	case TypeDNS:
		if !c.Server.IsValid() {
			p.Add(path+".server", "a dns check needs server ADDR:PORT")
		}
		if c.Query == "" {
			p.Add(path+".query", "a dns check needs a query name")
		} else if _, ok := dns.IsDomainName(c.Query); !ok {
			p.Add(path+".query", "%q is not a domain name", c.Query)
		}
		if c.QType != "" {
			if _, ok := dns.StringToType[strings.ToUpper(c.QType)]; !ok {
				p.Add(path+".qtype", "unknown query type %q", c.QType)
			}
		}
		if c.RCode != "" {
			if _, ok := dns.StringToRcode[strings.ToUpper(c.RCode)]; !ok {
				p.Add(path+".rcode", "unknown rcode %q (NOERROR, NXDOMAIN, SERVFAIL, ...)", c.RCode)
			}
		}
		if c.Transport != "" && c.Transport != "udp" && c.Transport != "tcp" {
			p.Add(path+".transport", "transport must be udp or tcp, not %q", c.Transport)
		}
	case TypeICMP:
		if !c.Target.IsValid() {
			p.Add(path+".target", "an icmp check needs a target address")
		}
	case TypeExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			p.Add(path+".command", "an exec check needs a command (a list: program and arguments)")
		}
	case "":
		p.Add(path+".type", "a check needs a type: http, tcp, dns, icmp or exec")
	default:
		p.Add(path+".type", "unknown check type %q (want http, tcp, dns, icmp or exec)", c.Type)
	}
}
