package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/internal/secret"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/bird"
	"github.com/anydiag/anydiag/speakers/frr"
	"github.com/anydiag/anydiag/speakers/gobgp"
	"github.com/anydiag/anydiag/speakers/gobgpapi"
)

// crossCheck holds the checks that relate sections to each other and to
// files on disk: what the agent would otherwise refuse only when it starts.
func (c *Config) crossCheck(p *yamlconf.Problems) {
	checks := map[string]bool{}
	for _, hc := range c.Health.Checks {
		checks[hc.Name] = true
	}
	service := map[netip.Prefix]bool{}
	for _, pr := range c.Anycast.Prefixes {
		service[pr.Prefix] = true
	}
	var degrades []degradeUse // what asks the speaker for degraded announcements
	if c.Policy.Degrade.BeforeWithdraw > 0 {
		degrades = append(degrades, degradeUse{"policy.degrade.before_withdraw", c.Policy.Degrade.Attributes()})
	}
	for i, r := range c.Policy.Rules {
		rp := fmt.Sprintf("policy.rules[%d]", i)
		if r.When.Check != "" && !checks[r.When.Check] {
			p.Add(rp+".when.check", "no health check is named %q (health.checks names: %s)", r.When.Check, names(c.Health.Checks))
		}
		for j, pr := range r.Prefixes {
			if !service[pr.Prefix] {
				p.Add(fmt.Sprintf("%s.prefixes[%d]", rp, j), "%s is not one of anycast.prefixes: a rule acts on this node's own prefixes only", pr.Prefix)
			}
		}
		if r.Action == policy.ActionDegrade {
			attrs := c.Policy.Degrade.Attributes()
			if r.Degrade != nil {
				attrs = r.Degrade.Attributes()
			}
			degrades = append(degrades, degradeUse{rp + ".action", attrs})
		}
	}
	if cn := c.Policy.Canary; cn.IsValid() && service[cn.Prefix] {
		p.Add("policy.canary", "the canary %s must differ from the service prefixes", cn.Prefix)
	}
	if capsOf, ok := speakerCapabilities[c.Speaker.Kind()]; ok {
		kind, caps := c.Speaker.Kind(), capsOf()
		for _, d := range degrades {
			missing := caps.Missing(d.attrs)
			if len(missing) == 0 {
				continue
			}
			p.Add(d.key, "degrade asks for %s, which the %s speaker cannot set at run time: use a speaker that can (%s), "+
				"or degrade with a route map in %s's own configuration and withdraw here",
				strings.Join(missing, ", "), kind, strings.Join(speakersAble(d.attrs), ", "), kind)
		}
	}
	if c.Speaker.Kind() == "" && len(c.Policy.Rules) > 0 {
		p.Warn("policy.rules", "no speaker is configured, so nothing carries out these rules (set speaker.gobgp, bird, frr or gobgpapi)")
	}

	if f := c.Exporters.TokenFile; f != "" && !c.skipFiles {
		if _, err := secret.Read(f, "the token file"); err != nil {
			p.Add("exporters.token_file", "%v", err)
		}
	}
	listen := DefaultListen
	if c.Exporters.Listen != nil {
		listen = c.Exporters.Listen.AddrPort
	}
	if !listen.Addr().IsLoopback() {
		p.Warn("exporters.listen", "%s is reachable from the network and the agent serves it without TLS: the API and the bearer token travel in clear text; listen on 127.0.0.1 and put a TLS proxy in front, or keep it to a management network", listen)
	}
	if am := c.Exporters.Alertmanager; am != nil {
		if am.TokenFile != "" && !c.skipFiles {
			if _, err := secret.Read(am.TokenFile, "the token file"); err != nil {
				p.Add("exporters.alertmanager.token_file", "%v", err)
			}
		}
		if am.Insecure {
			p.Warn("exporters.alertmanager.insecure", "the webhook accepts alerts without a token: anyone who reaches it can withdraw this node's prefixes; set token_file")
		}
		if am.Listen.IsValid() && !am.Listen.Addr().IsLoopback() && am.CertFile == "" {
			p.Warn("exporters.alertmanager.listen", "%s is reachable from the network without TLS: set cert_file and key_file", am.Listen)
		}
	}
}

// degradeUse is one place of the configuration that makes the policy
// announce degraded routes, and the attributes it asks for.
type degradeUse struct {
	key   string
	attrs speakers.Attributes
}

// speakerCapabilities are what each kind of speaker (Speaker.Kind) can do,
// known without starting it.
var speakerCapabilities = map[string]func() speakers.Capabilities{
	"gobgp":    gobgp.Capabilities,
	"gobgpapi": gobgpapi.Capabilities,
	"bird":     bird.Capabilities,
	"frr":      frr.Capabilities,
}

// speakersAble lists the kinds of speaker that can set attrs.
func speakersAble(attrs speakers.Attributes) []string {
	var out []string
	for kind, caps := range speakerCapabilities {
		if len(caps().Missing(attrs)) == 0 {
			out = append(out, kind)
		}
	}
	slices.Sort(out)
	return out
}

func names(hcs []health.CheckConfig) string {
	if len(hcs) == 0 {
		return "none"
	}
	out := make([]string, len(hcs))
	for i, hc := range hcs {
		out[i] = hc.Name
	}
	return strings.Join(out, ", ")
}
