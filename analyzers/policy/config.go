package policy

import (
	"fmt"
	"net/url"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

// DefaultInterval is policy.interval's default.
const DefaultInterval = time.Second

// Actions a rule or an alert may ask for.
const (
	ActionAnnounce = "announce"
	ActionDegrade  = "degrade"
	ActionWithdraw = "withdraw"
)

// Config is the `policy:` section of the agent configuration.
type Config struct {
	DryRun    bool   `yaml:"dry_run" json:"dry_run"`
	DrainFile string `yaml:"drain_file" json:"drain_file"`
	// AuditFile receives one JSON line per decision (appended); empty keeps
	// the audit in memory and in the API only. Opened without following
	// symlinks, in a directory only the agent may write.
	AuditFile string `yaml:"audit_file" json:"audit_file,omitempty"`
	// StateFile keeps manual holds, alert holds, hold-downs, the hourly
	// withdrawal count, self-dampening penalties and the drain across
	// restarts (written atomically on every change). Empty: beside the audit
	// log (StateFileName) when audit_file is set, else memory only.
	StateFile string `yaml:"state_file" json:"state_file,omitempty"`
	// Interval is the safety-net tick (the agent evaluates on every health
	// transition, finding, alert and control request, and at the next
	// deadline; the tick only catches what no event announced) and the unit
	// of rise and fall for finding-based rules (default 1s; 100ms works).
	Interval yamlconf.Duration `yaml:"interval" json:"interval,omitempty"`
	// AlertHoldTTL is how long an Alertmanager hold lasts without EndsAt
	// or re-notification (default 15m).
	AlertHoldTTL yamlconf.Duration `yaml:"alert_hold_ttl" json:"alert_hold_ttl,omitempty"`
	// MaxAlertHoldsPerPrefix caps the alert holds of one prefix (default
	// 64); new alerts beyond it are refused, existing holds never evicted.
	MaxAlertHoldsPerPrefix int `yaml:"max_alert_holds_per_prefix" json:"max_alert_holds_per_prefix,omitempty"`
	// HoldDown is the least time a prefix stays withdrawn before it is announced again.
	HoldDown              yamlconf.Duration `yaml:"hold_down" json:"hold_down"`
	MaxWithdrawalsPerHour int               `yaml:"max_withdrawals_per_hour" json:"max_withdrawals_per_hour"`
	// WithdrawOnShutdown withdraws every prefix when the agent stops; nil means true.
	WithdrawOnShutdown *bool `yaml:"withdraw_on_shutdown" json:"withdraw_on_shutdown"`
	// Rise and Fall apply to finding-based rules: their verdict must have
	// held for (n − 1) × Interval before the engine acts (announce needs
	// Rise, degrade and withdraw Fall). Check-based rules act at once: a
	// health check's verdict already passed the check's own rise/fall.
	Rise          int                 `yaml:"rise" json:"rise"`
	Fall          int                 `yaml:"fall" json:"fall"`
	Canary        yamlconf.HostPrefix `yaml:"canary" json:"canary,omitzero"`
	SelfDampening DampeningConfig     `yaml:"self_dampening" json:"self_dampening"`
	FleetGuard    FleetGuardConfig    `yaml:"fleet_guard" json:"fleet_guard"`
	Degrade       DegradeConfig       `yaml:"degrade" json:"degrade"`
	Rules         []Rule              `yaml:"rules" json:"rules"`
}

// DegradeConfig is how a degraded route is announced.
type DegradeConfig struct {
	MED              *uint32  `yaml:"med" json:"med,omitempty"`
	Prepend          int      `yaml:"prepend" json:"prepend,omitempty"`
	GracefulShutdown bool     `yaml:"graceful_shutdown" json:"graceful_shutdown,omitempty"`
	Communities      []string `yaml:"communities" json:"communities,omitempty"`
	// BeforeWithdraw, when set, makes every automatic withdrawal degrade
	// first and withdraw only after this long (make-before-break, RFC 8326).
	BeforeWithdraw yamlconf.Duration `yaml:"before_withdraw" json:"before_withdraw,omitempty"`
}

func (d DegradeConfig) set() bool {
	return d.MED != nil || d.Prepend > 0 || d.GracefulShutdown || len(d.Communities) > 0
}

// Attributes returns the path attributes of a degraded announcement.
func (d DegradeConfig) Attributes() speakers.Attributes {
	a := speakers.Attributes{MED: d.MED, Prepend: d.Prepend}
	for _, s := range d.Communities {
		if c, err := speakers.ParseCommunity(s); err == nil { // Check reported the others
			a.Communities = append(a.Communities, c)
		}
	}
	if d.GracefulShutdown {
		a.Communities = append(a.Communities, speakers.GracefulShutdown)
	}
	return a
}

// Rule maps a check state or a finding to an action on some prefixes (all
// managed prefixes when Prefixes is empty).
type Rule struct {
	When     Condition             `yaml:"when" json:"when"`
	Action   string                `yaml:"action" json:"action"`
	Prefixes []yamlconf.HostPrefix `yaml:"prefixes" json:"prefixes,omitempty"`
	Degrade  *DegradeConfig        `yaml:"degrade" json:"degrade,omitempty"`
}

// Condition is what makes a rule match: a health check in a state, or a
// finding with a code (and at least a severity) present.
type Condition struct {
	Check       string `yaml:"check" json:"check,omitempty"`
	State       string `yaml:"state" json:"state,omitempty"`
	Finding     string `yaml:"finding" json:"finding,omitempty"`
	MinSeverity string `yaml:"min_severity" json:"min_severity,omitempty"`
}

// Check reports semantic problems by key path; path is the section's own
// path (for example "policy"). prefixes are the node's anycast prefixes,
// which rules may name.
func (c *Config) Check(p *yamlconf.Problems, path string) {
	if c.MaxWithdrawalsPerHour < 0 {
		p.Add(path+".max_withdrawals_per_hour", "must not be negative (0 means no cap)")
	}
	if c.Rise < 0 {
		p.Add(path+".rise", "rise must be at least 1")
	}
	if c.Fall < 0 {
		p.Add(path+".fall", "fall must be at least 1")
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval.D() < 10*time.Millisecond) {
		p.Add(path+".interval", "interval %s: use at least 10ms (default 1s)", c.Interval.D())
	}
	if c.AlertHoldTTL < 0 {
		p.Add(path+".alert_hold_ttl", "must not be negative (default 15m)")
	}
	if c.MaxAlertHoldsPerPrefix < 0 {
		p.Add(path+".max_alert_holds_per_prefix", "must not be negative (default 64)")
	}
	c.SelfDampening.check(p, path+".self_dampening")
	c.FleetGuard.check(p, path+".fleet_guard")
	c.Degrade.check(p, path+".degrade")
	for i, r := range c.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", path, i)
		switch {
		case r.When.Check == "" && r.When.Finding == "":
			p.Add(rp+".when", "a rule needs when.check or when.finding")
		case r.When.Check != "" && r.When.Finding != "":
			p.Add(rp+".when", "a rule matches either a check or a finding, not both")
		}
		if r.When.Check != "" {
			switch r.When.State {
			case "up", "down", "unknown":
			case "":
				p.Add(rp+".when.state", "a check rule needs state: up, down or unknown")
			default:
				p.Add(rp+".when.state", "unknown state %q (want up, down or unknown)", r.When.State)
			}
		} else if r.When.State != "" {
			p.Add(rp+".when.state", "state applies to check rules only")
		}
		if r.When.Finding != "" {
			if _, ok := finding.Lookup(r.When.Finding); !ok {
				p.Add(rp+".when.finding", "finding code %q is not in the catalogue (anydiag findings codes)", r.When.Finding)
			}
		}
		if r.When.MinSeverity != "" {
			if _, err := finding.ParseSeverity(r.When.MinSeverity); err != nil {
				p.Add(rp+".when.min_severity", "%v", err)
			}
		}
		switch r.Action {
		case ActionWithdraw, ActionAnnounce:
			if r.Degrade != nil {
				p.Add(rp+".degrade", "degrade applies to action degrade only")
			}
		case ActionDegrade:
			if r.Degrade != nil {
				r.Degrade.check(p, rp+".degrade")
			} else if !c.Degrade.set() {
				p.Add(rp+".degrade", "action degrade needs degrade attributes here or in %s.degrade", path)
			}
		case "":
			p.Add(rp+".action", "a rule needs an action: withdraw, degrade or announce")
		default:
			p.Add(rp+".action", "unknown action %q (want withdraw, degrade or announce)", r.Action)
		}
	}
}

func (d *DegradeConfig) check(p *yamlconf.Problems, path string) {
	if d.Prepend < 0 || d.Prepend > 10 {
		p.Add(path+".prepend", "prepend %d out of range 0-10", d.Prepend)
	}
	for i, c := range d.Communities {
		if _, err := speakers.ParseCommunity(c); err != nil {
			p.Add(fmt.Sprintf("%s.communities[%d]", path, i), "%v", err)
		}
	}
	if d.BeforeWithdraw > 0 && !d.set() {
		p.Add(path+".before_withdraw", "before_withdraw needs degrade attributes (med, prepend, graceful_shutdown or communities)")
	}
}

// Sources of the fleet guard's count.
const (
	SourceBMP    = "bmp"
	SourcePromQL = "promql"
)

// FleetGuardConfig configures the guard that keeps enough PoPs announcing.
type FleetGuardConfig struct {
	// MinAnnouncing is the least number of PoPs that must still announce a
	// prefix after this node withdraws it; 0 disables the guard.
	MinAnnouncing int    `yaml:"min_announcing" json:"min_announcing"`
	Source        string `yaml:"source" json:"source"`
	// URL is the BMP collector's or the Prometheus server's base URL.
	URL string `yaml:"url" json:"url"`
	// Query is the PromQL expression; "$prefix" is replaced by the prefix.
	// It must return one sample whose value is the number of announcing PoPs.
	Query string `yaml:"query" json:"query,omitempty"`
	// CountBy is what a BMP route is counted by: origin (last AS of the
	// path), next_hop, or pop (next hop mapped through Pops).
	CountBy string            `yaml:"count_by" json:"count_by,omitempty"`
	Pops    map[string]string `yaml:"pops" json:"pops,omitempty"`
	Table   string            `yaml:"table" json:"table,omitempty"`
	Timeout yamlconf.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

func (f *FleetGuardConfig) check(p *yamlconf.Problems, path string) {
	if f.MinAnnouncing < 0 {
		p.Add(path+".min_announcing", "must not be negative")
	}
	if f.MinAnnouncing == 0 {
		return
	}
	if u, err := url.Parse(f.URL); f.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		p.Add(path+".url", "the fleet guard needs an http(s) url of the BMP collector or Prometheus")
	}
	switch f.Source {
	case SourceBMP:
		switch f.CountBy {
		case "", "origin", "next_hop":
		case "pop":
			if len(f.Pops) == 0 {
				p.Add(path+".pops", "count_by pop needs a pops mapping (next hop -> PoP name)")
			}
		default:
			p.Add(path+".count_by", "unknown count_by %q (want origin, next_hop or pop)", f.CountBy)
		}
		if f.Query != "" {
			p.Add(path+".query", "query applies to source promql only")
		}
	case SourcePromQL:
		if f.Query == "" {
			p.Add(path+".query", "source promql needs a query returning the number of announcing PoPs")
		}
	default:
		p.Add(path+".source", "source must be bmp or promql, not %q", f.Source)
	}
}

// DampeningConfig is the node's model of its upstreams' RFC 2439 dampening.
type DampeningConfig struct {
	// Profile selects the penalties and suppress threshold of a vendor's
	// defaults: cisco or juniper. Empty disables self-dampening.
	Profile string `yaml:"profile" json:"profile,omitempty"`
	// MaxFraction of the suppress threshold a re-announce may bring the penalty to.
	MaxFraction float64           `yaml:"max_fraction" json:"max_fraction,omitempty"`
	HalfLife    yamlconf.Duration `yaml:"half_life" json:"half_life,omitempty"`
	// SuppressThreshold overrides the profile's suppress threshold when set;
	// the name is the one of dampening.Profile (flap custom_profiles).
	SuppressThreshold float64 `yaml:"suppress_threshold" json:"suppress_threshold,omitempty"`
	// Suppress is the former name of SuppressThreshold, still read.
	Suppress float64 `yaml:"suppress" json:"suppress,omitempty"`
}

func (d DampeningConfig) suppressThreshold() float64 {
	if d.SuppressThreshold > 0 {
		return d.SuppressThreshold
	}
	return d.Suppress
}

func (d *DampeningConfig) check(p *yamlconf.Problems, path string) {
	if d.Profile == "" {
		return
	}
	if _, ok := dampening.Builtin(d.Profile); !ok {
		p.Add(path+".profile", "unknown profile %q (want cisco or juniper)", d.Profile)
		return
	}
	if d.Suppress != 0 {
		if d.SuppressThreshold != 0 {
			p.Add(path+".suppress", "suppress is the former name of suppress_threshold: give only suppress_threshold")
		} else {
			p.Warn(path+".suppress", "suppress is now called suppress_threshold (the name flap profiles use)")
		}
	}
	if d.MaxFraction <= 0 || d.MaxFraction > 1 {
		p.Add(path+".max_fraction", "max_fraction must be in (0, 1], got %g", d.MaxFraction)
		return
	}
	if d.HalfLife != 0 && d.HalfLife.D() < time.Minute {
		p.Add(path+".half_life", "half_life %s is shorter than any router allows (1m)", d.HalfLife.D())
	}
	m := d.model()
	if err := m.Validate(); err != nil {
		p.Add(path, "%v", err)
		return
	}
	if m.limit() <= m.ReadvertisementPenalty {
		p.Add(path+".max_fraction", "%g × suppress_threshold %g = %g does not exceed the re-announce penalty %g: no re-announce would ever be allowed",
			d.MaxFraction, m.SuppressThreshold, m.limit(), m.ReadvertisementPenalty)
	}
}
