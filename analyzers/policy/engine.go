package policy

import (
	"context"
	"errors"
	"fmt"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Input is what one evaluation looks at: each health check's status by name
// ("up", "down" or "unknown") and the current findings.
type Input struct {
	Checks   map[string]string `json:"checks"`
	Findings []finding.Finding `json:"findings"`
}

// Outcome says what became of a decision.
type Outcome string

// Outcomes of a decision.
const (
	OutcomeApplied Outcome = "applied"
	OutcomeRefused Outcome = "refused"
	OutcomeDryRun  Outcome = "dry-run"
	OutcomeFailed  Outcome = "failed"
)

// Sources of a decision.
const (
	SourceDefault  = "default"
	SourceRule     = "rule"
	SourceAlert    = "alert"
	SourceManual   = "manual"
	SourceDrain    = "drain"
	SourceShutdown = "shutdown"
	SourceCanary   = "canary"
)

// Guards that may refuse a decision.
const (
	GuardFleet     = "fleet_guard"
	GuardDampening = "self_dampening"
	GuardRate      = "rate_limit"
	GuardHoldDown  = "hold_down"
	GuardCanary    = "canary"
)

// Decision is one change the policy made, refused or would make (dry-run);
// each is written to the audit log as one JSON line.
type Decision struct {
	Time       time.Time      `json:"time"`
	Prefix     netip.Prefix   `json:"prefix"`
	Action     string         `json:"action"`
	Attributes Attributes     `json:"attributes"`
	Source     string         `json:"source"`
	Reason     string         `json:"reason"`
	Evidence   map[string]any `json:"evidence"`
	Outcome    Outcome        `json:"outcome,omitempty"`
	Guard      string         `json:"guard,omitempty"`
	RetryAfter Seconds        `json:"retry_after_seconds,omitempty"`
	Error      string         `json:"error,omitempty"`
}

// Seconds is a duration written in JSON as seconds.
type Seconds time.Duration

// MarshalJSON writes the duration as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%g", time.Duration(s).Seconds()), nil
}

// Options are the engine's dependencies; Speaker is required.
type Options struct {
	Speaker Speaker
	// Fleet counts announcing PoPs; nil disables the fleet guard.
	Fleet FleetCounter
	// Audit receives one JSON line per decision; nil discards them.
	Audit   io.Writer
	Metrics *metrics.Set
	Logger  *slog.Logger
	// Now is the clock of manual, alert and drain actions; Evaluate takes its
	// time as an argument.
	Now func() time.Time
}

// Engine decides, per prefix, whether the node announces, degrades or
// withdraws, and carries the decisions out through the Speaker. Its methods
// are safe for concurrent use; speaker calls are serialised.
type Engine struct {
	cfg       Config
	prefixes  []netip.Prefix
	o         Options
	damp      dampening
	degrade   Attributes
	audit     *auditLog
	decisions map[string]*metrics.Counter

	mu          sync.Mutex
	state       map[netip.Prefix]*prefixState
	input       Input
	drained     bool // by Drain, besides the drain file
	withdrawals []time.Time
	canaryOK    bool
}

type prefixState struct {
	known       bool
	announced   bool
	attrs       Attributes
	withdrawnAt time.Time
	degradedAt  time.Time
	penalty     Penalty
	pending     string
	pendingN    int
	manual      string
	alerts      map[string]alertHold
	lastKey     string
	refusal     *Decision
}

type alertHold struct {
	action string
	name   string
	since  time.Time
}

// NewEngine builds an engine for the node's anycast prefixes with a checked
// configuration.
func NewEngine(cfg Config, prefixes []netip.Prefix, o Options) (*Engine, error) {
	if o.Speaker == nil {
		return nil, errors.New("policy: no speaker")
	}
	if cfg.FleetGuard.MinAnnouncing > 0 && o.Fleet == nil {
		return nil, errors.New("policy: fleet_guard.min_announcing is set but no fleet counter was given")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if cfg.Rise < 1 {
		cfg.Rise = 1
	}
	if cfg.Fall < 1 {
		cfg.Fall = 1
	}
	e := &Engine{
		cfg: cfg, o: o, degrade: cfg.Degrade.Attributes(),
		audit: newAuditLog(o.Audit), state: map[netip.Prefix]*prefixState{},
		decisions: map[string]*metrics.Counter{},
	}
	if cfg.SelfDampening.Profile != "" {
		e.damp = cfg.SelfDampening.model()
	}
	for _, p := range prefixes {
		if _, dup := e.state[p]; dup {
			continue
		}
		e.prefixes = append(e.prefixes, p)
		e.state[p] = &prefixState{alerts: map[string]alertHold{}}
	}
	for _, r := range cfg.Rules {
		for _, rp := range r.Prefixes {
			if _, ok := e.state[rp.Prefix]; !ok {
				return nil, fmt.Errorf("policy: a rule names %s, which is not one of the node's anycast prefixes", rp.Prefix)
			}
		}
	}
	if e.cfg.Canary.IsValid() {
		if _, ok := e.state[e.cfg.Canary.Prefix]; ok {
			return nil, fmt.Errorf("policy: canary %s must not be one of the service prefixes", e.cfg.Canary.Prefix)
		}
	}
	if o.Metrics != nil {
		e.register(o.Metrics)
	}
	return e, nil
}

// Prefixes returns the managed prefixes in configuration order.
func (e *Engine) Prefixes() []netip.Prefix { return slices.Clone(e.prefixes) }

// Start learns what the speaker already announces, so that a restarted agent
// does not re-announce or withdraw needlessly.
func (e *Engine) Start(ctx context.Context) error {
	st, err := e.o.Speaker.State(ctx)
	if err != nil {
		return fmt.Errorf("policy: reading speaker state: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ps := range e.state {
		ps.known, ps.announced, ps.attrs = true, false, Attributes{}
	}
	for _, s := range st {
		if ps, ok := e.state[s.Prefix]; ok {
			ps.announced, ps.attrs = s.Announced, s.Attributes
		}
		if s.Prefix == e.cfg.Canary.Prefix && s.Announced {
			e.canaryOK = true
		}
	}
	return nil
}

// verdict is what the engine wants for a prefix, before guards.
type verdict struct {
	action   string
	attrs    Attributes
	source   string
	reason   string
	evidence map[string]any
	// immediate skips the rise/fall hysteresis: drains, manual actions and
	// alerts are deliberate, not noisy signals.
	immediate bool
}

func (e *Engine) isDrained() bool {
	if e.drained {
		return true
	}
	if e.cfg.DrainFile == "" {
		return false
	}
	_, err := os.Stat(e.cfg.DrainFile)
	return err == nil
}

func (e *Engine) want(p netip.Prefix, ps *prefixState, drained bool) verdict {
	if drained {
		return verdict{action: ActionWithdraw, source: SourceDrain, reason: "node drained for maintenance",
			evidence: map[string]any{"drain_file": e.cfg.DrainFile}, immediate: true}
	}
	if ps.manual != "" {
		return verdict{action: ActionWithdraw, source: SourceManual, reason: "withdrawn by hand: " + ps.manual, evidence: map[string]any{}, immediate: true}
	}
	var best *verdict
	for fp, h := range ps.alerts {
		v := verdict{action: h.action, source: SourceAlert, reason: fmt.Sprintf("alert %s firing", h.name),
			evidence: map[string]any{"fingerprint": fp, "alertname": h.name, "since": h.since}, immediate: true}
		if v.action == ActionDegrade {
			v.attrs = e.degrade
		}
		if best == nil || rank(v.action) > rank(best.action) || (rank(v.action) == rank(best.action) && fp < best.evidence["fingerprint"].(string)) {
			best = &v
		}
	}
	if best != nil {
		return *best
	}
	for i, r := range e.cfg.Rules {
		if len(r.Prefixes) > 0 && !slices.ContainsFunc(r.Prefixes, func(h yamlconf.HostPrefix) bool { return h.Prefix == p }) {
			continue
		}
		ok, why, ev := e.matches(r.When)
		if !ok {
			continue
		}
		v := verdict{action: r.Action, source: SourceRule, reason: fmt.Sprintf("rule %d: %s", i, why), evidence: ev}
		v.evidence["rule"] = i
		if r.Action == ActionDegrade {
			v.attrs = e.degrade
			if r.Degrade != nil {
				v.attrs = r.Degrade.Attributes()
			}
		}
		if best == nil || rank(v.action) > rank(best.action) {
			best = &v
		}
	}
	if best != nil {
		return *best
	}
	return verdict{action: ActionAnnounce, source: SourceDefault, reason: "no rule asks for a change", evidence: map[string]any{}}
}

func rank(action string) int {
	switch action {
	case ActionWithdraw:
		return 2
	case ActionDegrade:
		return 1
	}
	return 0
}

func (e *Engine) matches(c Condition) (bool, string, map[string]any) {
	if c.Check != "" {
		st, ok := e.input.Checks[c.Check]
		if !ok {
			st = "unknown"
		}
		return st == c.State, fmt.Sprintf("check %s is %s", c.Check, st), map[string]any{"check": c.Check, "state": st}
	}
	minSev := finding.Info
	if c.MinSeverity != "" {
		minSev, _ = finding.ParseSeverity(c.MinSeverity)
	}
	for _, f := range e.input.Findings {
		if f.Code == c.Finding && f.Severity >= minSev {
			return true, fmt.Sprintf("finding %s on %s", f.Code, f.Subject),
				map[string]any{"finding": f.Code, "subject": f.Subject, "severity": f.Severity.String(), "finding_evidence": f.Evidence}
		}
	}
	return false, "", nil
}

// Evaluate reads the drain file and in, decides per prefix and carries the
// decisions out. It returns the decisions that changed something or were
// refused; a steady state returns none.
func (e *Engine) Evaluate(ctx context.Context, now time.Time, in Input) []Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.input = in
	return e.evaluate(ctx, now, e.prefixes)
}

func (e *Engine) evaluate(ctx context.Context, now time.Time, prefixes []netip.Prefix) []Decision {
	drained := e.isDrained()
	var out []Decision
	for _, p := range prefixes {
		ps := e.state[p]
		if d, ok := e.step(ctx, now, p, ps, e.want(p, ps, drained), false); ok {
			out = append(out, d)
		}
	}
	return out
}

// step moves one prefix toward its verdict. With simulate it changes nothing
// and calls nothing but the fleet counter (for Explain).
func (e *Engine) step(ctx context.Context, now time.Time, p netip.Prefix, ps *prefixState, v verdict, simulate bool) (Decision, bool) {
	target := v.attrs
	if ps.known && v.action == ActionWithdraw && !ps.announced ||
		ps.known && v.action != ActionWithdraw && ps.announced && attrsEqual(ps.attrs, target) {
		if !simulate {
			ps.pending, ps.pendingN, ps.refusal, ps.lastKey = "", 0, nil, ""
		}
		return Decision{}, false
	}
	d := Decision{Time: now.UTC(), Prefix: p, Action: v.action, Attributes: target, Source: v.source, Reason: v.reason, Evidence: v.evidence}
	if !v.immediate {
		need := e.cfg.Rise
		if v.action != ActionAnnounce {
			need = e.cfg.Fall
		}
		n := 1
		if ps.pending == v.action {
			n = ps.pendingN + 1
		}
		if !simulate {
			ps.pending, ps.pendingN = v.action, n
		}
		if n < need {
			d.Outcome, d.Guard = "", ""
			d.Evidence = withKV(d.Evidence, "consecutive", n, "needed", need)
			return d, false
		}
	}
	// Degrade first: an automatic withdrawal of an announced route first
	// lowers its preference so traffic moves before the route goes.
	if v.action == ActionWithdraw && !v.immediate && e.cfg.Degrade.BeforeWithdraw > 0 && ps.announced {
		if !attrsEqual(ps.attrs, e.degrade) {
			d.Action, d.Attributes = ActionDegrade, e.degrade
			d.Reason = v.reason + "; degrading before withdrawal"
			return e.apply(ctx, now, ps, d, simulate)
		}
		if wait := ps.degradedAt.Add(e.cfg.Degrade.BeforeWithdraw.D()).Sub(now); wait > 0 {
			d.RetryAfter = Seconds(wait)
			d.Reason = v.reason + "; degraded, withdrawing after before_withdraw"
			return d, false
		}
	}
	if refused, ok := e.guard(ctx, now, p, ps, &d); ok {
		if simulate {
			return refused, true
		}
		ps.refusal = &refused
		return refused, e.record(ps, refused)
	}
	return e.apply(ctx, now, ps, d, simulate)
}

// guard returns the decision refused when a guard forbids d.
func (e *Engine) guard(ctx context.Context, now time.Time, p netip.Prefix, ps *prefixState, d *Decision) (Decision, bool) {
	refuse := func(guard, reason string, retry time.Duration, kv ...any) (Decision, bool) {
		r := *d
		r.Outcome, r.Guard, r.RetryAfter = OutcomeRefused, guard, Seconds(retry)
		r.Reason = d.Reason + "; refused: " + reason
		r.Evidence = withKV(maps(d.Evidence), kv...)
		return r, true
	}
	switch d.Action {
	case ActionWithdraw:
		if (d.Source == SourceRule || d.Source == SourceAlert) && e.cfg.MaxWithdrawalsPerHour > 0 {
			recent := e.recentWithdrawals(now)
			if len(recent) >= e.cfg.MaxWithdrawalsPerHour {
				return refuse(GuardRate, fmt.Sprintf("%d withdrawals in the last hour (cap %d)", len(recent), e.cfg.MaxWithdrawalsPerHour),
					recent[0].Add(time.Hour).Sub(now), "withdrawals_last_hour", len(recent), "cap", e.cfg.MaxWithdrawalsPerHour)
			}
		}
		if e.o.Fleet != nil {
			n, err := e.o.Fleet.Announcing(ctx, p)
			if err != nil {
				return refuse(GuardFleet, "the fleet count cannot be read, keeping the announcement", 0, "error", err.Error(), "min_announcing", e.cfg.FleetGuard.MinAnnouncing)
			}
			remaining := n
			if !ps.known || ps.announced {
				remaining--
			}
			if remaining < e.cfg.FleetGuard.MinAnnouncing {
				return refuse(GuardFleet, fmt.Sprintf("only %d PoPs would still announce (min_announcing %d)", max(remaining, 0), e.cfg.FleetGuard.MinAnnouncing), 0,
					"announcing", n, "remaining", max(remaining, 0), "min_announcing", e.cfg.FleetGuard.MinAnnouncing)
			}
			d.Evidence = withKV(d.Evidence, "announcing", n, "remaining", remaining)
		}
	case ActionAnnounce, ActionDegrade:
		if ps.announced || ps.withdrawnAt.IsZero() {
			return Decision{}, false
		}
		if until := ps.withdrawnAt.Add(e.cfg.HoldDown.D()); now.Before(until) {
			return refuse(GuardHoldDown, fmt.Sprintf("hold-down of %s since the withdrawal", e.cfg.HoldDown.D()), until.Sub(now),
				"withdrawn_at", ps.withdrawnAt.UTC(), "hold_down", e.cfg.HoldDown.D().String())
		}
		if e.damp.Suppress > 0 {
			if wait := e.damp.announceWait(ps.penalty, now); wait > 0 {
				cur := ps.penalty.decayed(now, e.damp.HalfLife)
				return refuse(GuardDampening, fmt.Sprintf("penalty %.0f + %.0f would cross %.0f (%g of suppress %.0f)",
					cur, e.damp.AnnouncePenalty, e.damp.limit(), e.damp.MaxFraction, e.damp.Suppress), wait,
					"penalty", round1(cur), "limit", e.damp.limit(), "suppress", e.damp.Suppress, "profile", e.cfg.SelfDampening.Profile)
			}
		}
	}
	return Decision{}, false
}

func (e *Engine) recentWithdrawals(now time.Time) []time.Time {
	var out []time.Time
	for _, t := range e.withdrawals {
		if now.Sub(t) < time.Hour {
			out = append(out, t)
		}
	}
	return out
}

// apply carries d out (unless dry-run or simulate) and records it; it
// reports whether d is news (a repeated dry-run or failure is not).
func (e *Engine) apply(ctx context.Context, now time.Time, ps *prefixState, d Decision, simulate bool) (Decision, bool) {
	if simulate {
		return d, true
	}
	if e.cfg.DryRun {
		d.Outcome = OutcomeDryRun
		return d, e.record(ps, d)
	}
	if d.Action != ActionWithdraw && d.Source != SourceCanary && e.cfg.Canary.IsValid() {
		if err := e.verifyCanary(ctx, now); err != nil {
			d.Outcome, d.Guard, d.Error = OutcomeRefused, GuardCanary, err.Error()
			d.Reason += "; refused: the canary prefix is not verified announced"
			ps.refusal = &d
			return d, e.record(ps, d)
		}
	}
	var err error
	if d.Action == ActionWithdraw {
		err = e.o.Speaker.Withdraw(ctx, d.Prefix)
	} else {
		err = e.o.Speaker.Announce(ctx, d.Prefix, d.Attributes)
	}
	if err != nil {
		d.Outcome, d.Error = OutcomeFailed, err.Error()
		// The speaker may have half-done it: learn the state again next time.
		ps.known = false
		return d, e.record(ps, d)
	}
	d.Outcome = OutcomeApplied
	wasAnnounced := ps.known && ps.announced
	switch {
	case d.Action == ActionWithdraw:
		ps.announced, ps.attrs, ps.withdrawnAt = false, Attributes{}, now
		ps.penalty = ps.penalty.add(now, e.damp.HalfLife, e.damp.WithdrawPenalty)
		if d.Source == SourceRule || d.Source == SourceAlert {
			e.withdrawals = append(e.recentWithdrawals(now), now)
		}
	case wasAnnounced:
		ps.penalty = ps.penalty.add(now, e.damp.HalfLife, e.damp.AttributePenalty)
	case !ps.withdrawnAt.IsZero():
		ps.penalty = ps.penalty.add(now, e.damp.HalfLife, e.damp.AnnouncePenalty)
	}
	if d.Action != ActionWithdraw {
		if d.Attributes.Degraded() && !ps.attrs.Degraded() {
			ps.degradedAt = now
		}
		ps.announced, ps.attrs = true, d.Attributes
	}
	ps.known, ps.pending, ps.pendingN, ps.refusal = true, "", 0, nil
	if e.damp.Suppress > 0 {
		d.Evidence = withKV(d.Evidence, "penalty", round1(ps.penalty.Value))
	}
	e.record(ps, d)
	e.o.Logger.Info("policy decision", "prefix", d.Prefix, "action", d.Action, "source", d.Source, "reason", d.Reason)
	return d, true
}

// verifyCanary announces the canary prefix if needed and checks through the
// speaker's state that it is announced: a speaker that cannot announce the
// canary must not be trusted with a service prefix.
func (e *Engine) verifyCanary(ctx context.Context, now time.Time) error {
	if e.canaryOK {
		return nil
	}
	c := e.cfg.Canary.Prefix
	d := Decision{Time: now.UTC(), Prefix: c, Action: ActionAnnounce, Source: SourceCanary, Reason: "canary announced before service prefixes", Evidence: map[string]any{}}
	if err := e.o.Speaker.Announce(ctx, c, Attributes{}); err != nil {
		d.Outcome, d.Error = OutcomeFailed, err.Error()
		e.audit.write(d)
		e.count(d)
		return fmt.Errorf("announcing canary %s: %w", c, err)
	}
	st, err := e.o.Speaker.State(ctx)
	if err != nil {
		return fmt.Errorf("verifying canary %s: %w", c, err)
	}
	for _, s := range st {
		if s.Prefix == c && s.Announced {
			e.canaryOK = true
			d.Outcome = OutcomeApplied
			e.audit.write(d)
			e.count(d)
			return nil
		}
	}
	return fmt.Errorf("canary %s announced but the speaker does not report it", c)
}

// record audits d unless it repeats the prefix's last audited decision (a
// refusal repeats at every evaluation; one line says it) and reports whether
// it was new.
func (e *Engine) record(ps *prefixState, d Decision) bool {
	key := fmt.Sprint(d.Action, d.Outcome, d.Guard, d.Source, d.Attributes.Degraded())
	if d.Outcome != OutcomeApplied && key == ps.lastKey {
		return false
	}
	ps.lastKey = key
	if d.Evidence == nil {
		d.Evidence = map[string]any{}
	}
	e.audit.write(d)
	e.count(d)
	return true
}

func (e *Engine) count(d Decision) {
	if e.o.Metrics == nil {
		return
	}
	name := fmt.Sprintf(`anydiag_policy_decisions_total{prefix=%q,action=%q,outcome=%q}`, d.Prefix, d.Action, d.Outcome)
	c, ok := e.decisions[name]
	if !ok {
		c = e.o.Metrics.GetOrCreateCounter(name)
		e.decisions[name] = c
	}
	c.Inc()
	if d.Guard == GuardFleet {
		e.o.Metrics.GetOrCreateCounter(fmt.Sprintf(`anydiag_policy_fleet_guard_refusals_total{prefix=%q}`, d.Prefix)).Inc()
	}
}

func (e *Engine) register(s *metrics.Set) {
	for _, p := range e.prefixes {
		get := func(f func(ps *prefixState) float64) func() float64 {
			return func() float64 {
				e.mu.Lock()
				defer e.mu.Unlock()
				return f(e.state[p])
			}
		}
		s.GetOrCreateGauge(fmt.Sprintf(`anydiag_policy_announced{prefix=%q}`, p), get(func(ps *prefixState) float64 {
			return b2f(ps.announced)
		}))
		s.GetOrCreateGauge(fmt.Sprintf(`anydiag_policy_degraded{prefix=%q}`, p), get(func(ps *prefixState) float64 {
			return b2f(ps.announced && ps.attrs.Degraded())
		}))
		s.GetOrCreateGauge(fmt.Sprintf(`anydiag_policy_dampening_penalty{prefix=%q}`, p), get(func(ps *prefixState) float64 {
			return ps.penalty.decayed(e.o.Now(), e.damp.HalfLife)
		}))
		if e.damp.Suppress > 0 {
			s.GetOrCreateGauge(fmt.Sprintf(`anydiag_policy_dampening_suppress_threshold{prefix=%q}`, p), nil).Set(e.damp.Suppress)
		}
		s.GetOrCreateCounter(fmt.Sprintf(`anydiag_policy_fleet_guard_refusals_total{prefix=%q}`, p))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func attrsEqual(a, b Attributes) bool {
	return (a.MED == nil) == (b.MED == nil) && (a.MED == nil || *a.MED == *b.MED) &&
		a.Prepend == b.Prepend && slices.Equal(a.Communities, b.Communities)
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func withKV(m map[string]any, kv ...any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (e *Engine) lookup(p netip.Prefix) (*prefixState, error) {
	ps, ok := e.state[p]
	if !ok {
		return nil, fmt.Errorf("policy: %s is not one of this node's anycast prefixes", p)
	}
	return ps, nil
}

// ManualWithdraw withdraws prefix by hand and holds it withdrawn until
// ManualAnnounce. The fleet guard still applies; the withdrawal cap does not.
func (e *Engine) ManualWithdraw(ctx context.Context, prefix netip.Prefix, reason string) (Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps, err := e.lookup(prefix)
	if err != nil {
		return Decision{}, err
	}
	if reason == "" {
		reason = "no reason given"
	}
	prev := ps.manual
	ps.manual = reason
	d, changed := e.step(ctx, e.o.Now(), prefix, ps, e.want(prefix, ps, e.isDrained()), false)
	if changed && d.Outcome == OutcomeRefused {
		ps.manual = prev
	}
	return d, nil
}

// ManualAnnounce releases a manual withdrawal and the alert holds of prefix,
// then evaluates it: the rules, drain, hold-down and self-dampening still
// decide whether it is announced now (the decision says why not).
func (e *Engine) ManualAnnounce(ctx context.Context, prefix netip.Prefix) (Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps, err := e.lookup(prefix)
	if err != nil {
		return Decision{}, err
	}
	ps.manual = ""
	clear(ps.alerts)
	v := e.want(prefix, ps, e.isDrained())
	v.immediate = true
	d, _ := e.step(ctx, e.o.Now(), prefix, ps, v, false)
	return d, nil
}

// Drain withdraws every prefix for maintenance (creating the drain file when
// one is configured, so the drain survives a restart).
func (e *Engine) Drain(ctx context.Context) ([]Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.DrainFile != "" {
		if err := os.WriteFile(e.cfg.DrainFile, fmt.Appendf(nil, "drained at %s\n", e.o.Now().UTC().Format(time.RFC3339)), 0o644); err != nil {
			return nil, fmt.Errorf("policy: creating drain file: %w", err)
		}
	}
	e.drained = true
	return e.evaluate(ctx, e.o.Now(), e.prefixes), nil
}

// Undrain ends a drain (removing the drain file) and re-evaluates.
func (e *Engine) Undrain(ctx context.Context) ([]Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.DrainFile != "" {
		if err := os.Remove(e.cfg.DrainFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("policy: removing drain file: %w", err)
		}
	}
	e.drained = false
	now := e.o.Now()
	var out []Decision
	for _, p := range e.prefixes {
		ps := e.state[p]
		v := e.want(p, ps, false)
		v.immediate = true
		if d, ok := e.step(ctx, now, p, ps, v, false); ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// Alert is one Alertmanager alert reduced to what the policy needs.
type Alert struct {
	Fingerprint string
	Name        string
	Firing      bool
	Prefix      netip.Prefix
	Action      string
	StartsAt    time.Time
}

// CheckAlert reports why an alert cannot be applied; nil means it can.
func (e *Engine) CheckAlert(a Alert) error {
	if _, ok := e.state[a.Prefix]; !ok {
		return fmt.Errorf("prefix %s is not one of this node's anycast prefixes", a.Prefix)
	}
	if a.Fingerprint == "" {
		return errors.New("alert without fingerprint")
	}
	switch a.Action {
	case ActionWithdraw:
	case ActionDegrade:
		if !e.cfg.Degrade.set() {
			return errors.New("action degrade, but policy.degrade sets no attributes")
		}
	default:
		return fmt.Errorf("unknown action %q (want withdraw or degrade)", a.Action)
	}
	return nil
}

// ApplyAlerts checks every alert first and changes nothing when one is
// invalid; then a firing alert holds its prefix in its action and a
// resolved one releases that hold, each through the guards.
func (e *Engine) ApplyAlerts(ctx context.Context, alerts []Alert) ([]Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, a := range alerts {
		if err := e.CheckAlert(a); err != nil {
			return nil, fmt.Errorf("alert %d: %w", i, err)
		}
	}
	now := e.o.Now()
	touched := map[netip.Prefix]bool{}
	for _, a := range alerts {
		ps := e.state[a.Prefix]
		if a.Firing {
			ps.alerts[a.Fingerprint] = alertHold{action: a.Action, name: a.Name, since: a.StartsAt}
		} else {
			delete(ps.alerts, a.Fingerprint)
		}
		touched[a.Prefix] = true
	}
	var ps []netip.Prefix
	for _, p := range e.prefixes {
		if touched[p] {
			ps = append(ps, p)
		}
	}
	return e.evaluate(ctx, now, ps), nil
}

// Shutdown withdraws every announced prefix (and the canary) when
// withdraw_on_shutdown is on (the default); the fleet guard still applies.
func (e *Engine) Shutdown(ctx context.Context) []Decision {
	if e.cfg.WithdrawOnShutdown != nil && !*e.cfg.WithdrawOnShutdown {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.o.Now()
	var out []Decision
	for _, p := range e.prefixes {
		ps := e.state[p]
		v := verdict{action: ActionWithdraw, source: SourceShutdown, reason: "agent shutting down (withdraw_on_shutdown)", evidence: map[string]any{}, immediate: true}
		if d, ok := e.step(ctx, now, p, ps, v, false); ok {
			out = append(out, d)
		}
	}
	if e.cfg.Canary.IsValid() && !e.cfg.DryRun {
		if err := e.o.Speaker.Withdraw(ctx, e.cfg.Canary.Prefix); err != nil {
			e.o.Logger.Warn("withdrawing canary on shutdown", "prefix", e.cfg.Canary.Prefix, "error", err)
		}
	}
	return out
}

// Findings reports the policy's own state as findings: withdrawn and
// drained prefixes, and refusals by the fleet guard, self-dampening and the
// withdrawal cap.
func (e *Engine) Findings(now time.Time) []finding.Finding {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []finding.Finding
	if e.isDrained() {
		out = append(out, finding.New("policy.drained", "node", "The node is drained: its anycast prefixes are withdrawn",
			map[string]any{"drain_file": e.cfg.DrainFile}, now))
	}
	for _, p := range e.prefixes {
		ps := e.state[p]
		if ps.known && !ps.announced && !ps.withdrawnAt.IsZero() {
			out = append(out, finding.New("policy.withdrawn", p.String(), "The policy withdrew "+p.String(),
				map[string]any{"withdrawn_at": ps.withdrawnAt.UTC()}, ps.withdrawnAt))
		}
		r := ps.refusal
		if r == nil {
			continue
		}
		code := map[string]string{GuardFleet: "policy.fleet_guard", GuardDampening: "policy.self_dampening", GuardRate: "policy.rate_limited"}[r.Guard]
		if code == "" {
			continue
		}
		ev := maps(r.Evidence)
		ev["action"] = r.Action
		if r.RetryAfter > 0 {
			ev["retry_after_seconds"] = time.Duration(r.RetryAfter).Seconds()
		}
		out = append(out, finding.New(code, p.String(), r.Reason, ev, r.Time))
	}
	finding.Sort(out)
	return out
}

// PrefixExplanation is Explain's account of one prefix.
type PrefixExplanation struct {
	Prefix     netip.Prefix `json:"prefix"`
	Announced  bool         `json:"announced"`
	Known      bool         `json:"known"`
	Attributes Attributes   `json:"attributes"`
	// Want is the action the inputs call for, and Next what the engine would
	// do now (nothing when Want is already the state).
	Want     string         `json:"want"`
	Next     *Decision      `json:"next,omitempty"`
	Source   string         `json:"source"`
	Reason   string         `json:"reason"`
	Evidence map[string]any `json:"evidence"`
	Penalty  float64        `json:"penalty"`
	Holds    []string       `json:"holds,omitempty"`
}

// Explanation is what the policy would do now and why.
type Explanation struct {
	Time                time.Time           `json:"time"`
	DryRun              bool                `json:"dry_run"`
	Drained             bool                `json:"drained"`
	WithdrawalsLastHour int                 `json:"withdrawals_last_hour"`
	MaxPerHour          int                 `json:"max_withdrawals_per_hour"`
	Prefixes            []PrefixExplanation `json:"prefixes"`
	Findings            []finding.Finding   `json:"findings"`
}

// Explain says what the policy would do now with the last input, and why,
// changing nothing (it may query the fleet counter).
func (e *Engine) Explain(ctx context.Context, now time.Time) Explanation {
	fs := e.Findings(now)
	e.mu.Lock()
	defer e.mu.Unlock()
	drained := e.isDrained()
	x := Explanation{Time: now.UTC(), DryRun: e.cfg.DryRun, Drained: drained,
		WithdrawalsLastHour: len(e.recentWithdrawals(now)), MaxPerHour: e.cfg.MaxWithdrawalsPerHour, Findings: fs}
	for _, p := range e.prefixes {
		ps := e.state[p]
		v := e.want(p, ps, drained)
		pe := PrefixExplanation{Prefix: p, Announced: ps.announced, Known: ps.known, Attributes: ps.attrs,
			Want: v.action, Source: v.source, Reason: v.reason, Evidence: v.evidence,
			Penalty: round1(ps.penalty.decayed(now, e.damp.HalfLife))}
		if ps.manual != "" {
			pe.Holds = append(pe.Holds, "manual: "+ps.manual)
		}
		for fp, h := range ps.alerts {
			pe.Holds = append(pe.Holds, fmt.Sprintf("alert %s (%s): %s", h.name, fp, h.action))
		}
		sort.Strings(pe.Holds)
		if d, ok := e.step(ctx, now, p, ps, v, true); ok || d.Action != "" {
			pe.Next = &d
		}
		x.Prefixes = append(x.Prefixes, pe)
	}
	return x
}

// SetInput records the input Explain and the manual actions use, without
// evaluating; the agent normally gives it through Evaluate.
func (e *Engine) SetInput(in Input) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.input = in
}

func init() {
	d := prometheus.Describe
	d("anydiag_policy_decisions_total", prometheus.Counter, "Policy decisions by prefix, action (announce, withdraw, degrade) and outcome (applied, refused, dry_run, failed).")
	d("anydiag_policy_fleet_guard_refusals_total", prometheus.Counter, "Withdrawals refused by the fleet guard, by prefix.")
	d("anydiag_policy_announced", prometheus.Gauge, "1 if the node announces the prefix, 0 if it is withdrawn.")
	d("anydiag_policy_degraded", prometheus.Gauge, "1 if the prefix is announced degraded (MED, prepend or graceful-shutdown community).")
	d("anydiag_policy_dampening_penalty", prometheus.Gauge, "The node's own RFC 2439 penalty for the prefix, decayed to now.")
	d("anydiag_policy_dampening_suppress_threshold", prometheus.Gauge, "The upstream suppress threshold the self-dampening keeps the penalty below.")
}
