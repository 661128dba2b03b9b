package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/safefile"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

// Input is what one evaluation looks at: each health check's status by name
// ("up", "down" or "unknown") and the current findings.
type Input struct {
	Checks   map[string]string `json:"checks"`
	Findings []finding.Finding `json:"findings"`
}

// Outcome says what became of a decision.
type Outcome string

// Outcomes of a decision. Waiting and unchanged are only returned to the
// caller of a manual action (the policy acts later on its own, or there was
// nothing to do); they are never audited.
const (
	OutcomeApplied   Outcome = "applied"
	OutcomeRefused   Outcome = "refused"
	OutcomeDryRun    Outcome = "dry-run"
	OutcomeFailed    Outcome = "failed"
	OutcomeWaiting   Outcome = "waiting"
	OutcomeUnchanged Outcome = "unchanged"
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
	Time       time.Time           `json:"time"`
	Prefix     netip.Prefix        `json:"prefix"`
	Action     string              `json:"action"`
	Attributes speakers.Attributes `json:"attributes"`
	Source     string              `json:"source"`
	Reason     string              `json:"reason"`
	Evidence   map[string]any      `json:"evidence"`
	Outcome    Outcome             `json:"outcome,omitempty"`
	Guard      string              `json:"guard,omitempty"`
	RetryAfter Seconds             `json:"retry_after_seconds,omitempty"`
	Error      string              `json:"error,omitempty"`
}

// Summary is the decision in one line, for people (the CLI prints it).
func (d Decision) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", d.Prefix, d.Action)
	if d.Outcome != "" {
		fmt.Fprintf(&b, " %s", d.Outcome)
	}
	if d.Guard != "" {
		fmt.Fprintf(&b, " by %s", d.Guard)
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " (%s)", d.Reason)
	}
	if d.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry in %s", time.Duration(d.RetryAfter).Round(time.Millisecond))
	}
	if d.Error != "" {
		fmt.Fprintf(&b, ": %s", d.Error)
	}
	return b.String()
}

// Seconds is a duration written in JSON as seconds.
type Seconds time.Duration

// MarshalJSON writes the duration as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%g", time.Duration(s).Seconds()), nil
}

// UnmarshalJSON reads a number of seconds (fractions allowed).
func (s *Seconds) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does for numbers
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("policy: seconds %s: want a number of seconds", b)
	}
	d := f * float64(time.Second)
	if d != d || d > float64(1<<63-1) || d < -float64(1<<63) {
		return fmt.Errorf("policy: seconds %s out of range", b)
	}
	*s = Seconds(time.Duration(d))
	return nil
}

// Options are the engine's dependencies; Speaker is required.
type Options struct {
	Speaker speakers.Speaker
	// Fleet counts announcing PoPs; nil disables the fleet guard.
	Fleet FleetCounter
	// Audit receives one JSON line per decision; nil discards them. Open
	// files with safefile.OpenAppend.
	Audit   io.Writer
	Metrics *metrics.Set
	Logger  *slog.Logger
	// Now is the clock of manual, alert and drain actions; Evaluate takes its
	// time as an argument.
	Now func() time.Time
	// State, when non-nil, is the state to start from (handed over from the
	// previous engine on a reload); it wins over the state file.
	State *State
	// Advertised, when set and its ok is true, says whether the speaker has
	// advertised the prefix to at least one established neighbor; the gauge
	// anydiag_policy_announced then needs both the policy and the speaker.
	Advertised func(netip.Prefix) (advertised bool, ok bool)
}

// Engine decides, per prefix, whether the node announces, degrades or
// withdraws, and carries the decisions out through the Speaker. Its methods
// are safe for concurrent use.
//
// Two locks: mu guards the state and is only ever held for computation, so
// metrics, Explain and Findings answer at once; spMu serialises everything
// that may call the speaker or the fleet counter (network I/O of up to
// seconds), so no two decisions for a prefix are ever in flight at once and
// each is committed to the state only after the call returned.
type Engine struct {
	cfg       Config
	prefixes  []netip.Prefix
	o         Options
	damp      selfDampening
	degrade   speakers.Attributes
	audit     *auditLog
	interval  time.Duration
	maxHolds  int
	holdTTL   time.Duration
	statePath string
	// stateHealth records the state file's writes (state.go).
	stateHealth stateHealth

	spMu     sync.Mutex
	canaryOK bool // guarded by spMu

	mu          sync.Mutex
	state       map[netip.Prefix]*prefixState
	input       Input
	seenUp      map[string]bool
	drained     bool // by Drain, besides the drain file
	withdrawals []time.Time
	expiries    expiryHeap
	lastNow     time.Time
	dirty       bool
	decisions   map[string]*metrics.Counter
	outbox      []Decision
}

type prefixState struct {
	known        bool
	announced    bool
	attrs        speakers.Attributes
	withdrawnAt  time.Time
	degradedAt   time.Time
	penalty      Penalty
	pending      string
	pendingSince time.Time
	// findingHeld: the prefix left the plain announcement on a finding rule,
	// so going back needs rise too (a check's own rise already ran).
	findingHeld bool
	// gate lists the health checks a rule for this prefix names; until each
	// has been seen up once since start, the prefix is not announced.
	gate    []string
	manual  string
	alerts  holdSet
	lastKey string
	refusal *Decision
}

// NewEngine builds an engine for the node's anycast prefixes with a checked
// configuration, restoring its persisted state (Options.State, else the
// state file). An unreadable state file is an error: starting without it
// would silently drop manual withdrawals.
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
	cfg.Rise, cfg.Fall = max(cfg.Rise, 1), max(cfg.Fall, 1)
	e := &Engine{
		cfg: cfg, o: o, degrade: cfg.Degrade.Attributes(),
		audit: newAuditLog(o.Audit), state: map[netip.Prefix]*prefixState{},
		decisions: map[string]*metrics.Counter{}, seenUp: map[string]bool{},
		interval: cfg.Interval.D(), maxHolds: cfg.MaxAlertHoldsPerPrefix, holdTTL: cfg.AlertHoldTTL.D(),
		statePath: cfg.StatePath(),
	}
	if e.interval <= 0 {
		e.interval = DefaultInterval
	}
	if e.maxHolds <= 0 {
		e.maxHolds = DefaultMaxAlertHoldsPerPrefix
	}
	if e.holdTTL <= 0 {
		e.holdTTL = DefaultAlertHoldTTL
	}
	if cfg.SelfDampening.Profile != "" {
		e.damp = cfg.SelfDampening.model()
	}
	for _, p := range prefixes {
		if _, dup := e.state[p]; dup {
			continue
		}
		e.prefixes = append(e.prefixes, p)
		e.state[p] = &prefixState{alerts: newHoldSet()}
	}
	for _, r := range cfg.Rules {
		for _, rp := range r.Prefixes {
			if _, ok := e.state[rp.Prefix]; !ok {
				return nil, fmt.Errorf("policy: a rule names %s, which is not one of the node's anycast prefixes", rp.Prefix)
			}
		}
		if r.When.Check == "" {
			continue
		}
		for _, p := range e.prefixes {
			ps := e.state[p]
			if applies(r, p) && !slices.Contains(ps.gate, r.When.Check) {
				ps.gate = append(ps.gate, r.When.Check)
			}
		}
	}
	if e.cfg.Canary.IsValid() {
		if _, ok := e.state[e.cfg.Canary.Prefix]; ok {
			return nil, fmt.Errorf("policy: canary %s must not be one of the service prefixes", e.cfg.Canary.Prefix)
		}
	}
	if e.statePath != "" {
		// Refused at start, not at the first write: a state that cannot be
		// kept would be lost silently at the next restart.
		if err := safefile.CheckDir(filepath.Dir(e.statePath)); err != nil {
			return nil, fmt.Errorf("policy: state_file %s: %w", e.statePath, err)
		}
	}
	st := o.State
	if st == nil && e.statePath != "" {
		var err error
		if st, err = readState(e.statePath); err != nil {
			return nil, err
		}
	}
	if st != nil {
		e.restore(*st, o.Now())
	}
	e.audit.onFail = func() {
		if e.o.Metrics != nil {
			e.o.Metrics.GetOrCreateCounter("anydiag_policy_audit_write_failures_total").Inc()
		}
	}
	if o.Metrics != nil {
		e.register(o.Metrics)
	}
	return e, nil
}

func applies(r Rule, p netip.Prefix) bool {
	return len(r.Prefixes) == 0 || slices.ContainsFunc(r.Prefixes, func(h yamlconf.HostPrefix) bool { return h.Prefix == p })
}

// Prefixes returns the managed prefixes in configuration order.
func (e *Engine) Prefixes() []netip.Prefix { return slices.Clone(e.prefixes) }

// Start learns what the speaker already announces, so that a restarted agent
// does not re-announce or withdraw needlessly.
func (e *Engine) Start(ctx context.Context) error {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	st, err := e.o.Speaker.State(ctx)
	if err != nil {
		return fmt.Errorf("policy: reading speaker state: %w", err)
	}
	e.mu.Lock()
	if now := e.o.Now(); now.After(e.lastNow) {
		e.lastNow = now
	}
	for _, ps := range e.state {
		ps.known, ps.announced, ps.attrs = true, false, speakers.Attributes{}
	}
	for _, s := range st {
		if ps, ok := e.state[s.Prefix]; ok {
			ps.announced, ps.attrs = s.Announced, s.Attributes
		}
		if s.Prefix == e.cfg.Canary.Prefix && s.Announced {
			e.canaryOK = true
		}
	}
	e.mu.Unlock()
	return nil
}

// verdict is what the engine wants for a prefix, before guards.
type verdict struct {
	action   string
	attrs    speakers.Attributes
	source   string
	reason   string
	evidence map[string]any
	// hyst applies policy.rise/fall: finding-based rules, which carry no
	// hysteresis of their own. Checks, drains, manual actions and alerts act
	// at once.
	hyst bool
	// findingRule: the verdict comes from a finding-based rule.
	findingRule bool
}

func (e *Engine) isDrained() bool {
	if e.drained {
		return true
	}
	if e.cfg.DrainFile == "" {
		return false
	}
	_, err := os.Lstat(e.cfg.DrainFile)
	return err == nil
}

func (e *Engine) want(p netip.Prefix, ps *prefixState, drained bool) verdict {
	if drained {
		return verdict{action: ActionWithdraw, source: SourceDrain, reason: "node drained for maintenance",
			evidence: map[string]any{"drain_file": e.cfg.DrainFile}}
	}
	if ps.manual != "" {
		return verdict{action: ActionWithdraw, source: SourceManual, reason: "withdrawn by hand: " + ps.manual, evidence: map[string]any{}}
	}
	if fp, h, ok := ps.alerts.strongest(); ok {
		v := verdict{action: h.action, source: SourceAlert, reason: fmt.Sprintf("alert %s firing", h.name),
			evidence: map[string]any{"fingerprint": fp, "alertname": h.name, "since": h.since, "expires": h.expires.UTC(), "holds": ps.alerts.len()}}
		if v.action == ActionDegrade {
			v.attrs = e.degrade
		}
		return v
	}
	var best *verdict
	for i, r := range e.cfg.Rules {
		if !applies(r, p) {
			continue
		}
		ok, why, ev := e.matches(r.When)
		if !ok {
			continue
		}
		v := verdict{action: r.Action, source: SourceRule, reason: fmt.Sprintf("rule %d: %s", i, why), evidence: ev,
			hyst: r.When.Finding != "", findingRule: r.When.Finding != ""}
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
	return verdict{action: ActionAnnounce, source: SourceDefault, reason: "no rule asks for a change", evidence: map[string]any{}, hyst: ps.findingHeld}
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

// job is a decision to carry out with the lock released: the fleet count,
// the canary and the speaker call, then committed to the state.
type job struct {
	p           netip.Prefix
	ps          *prefixState
	d           Decision
	findingRule bool
	// wasAnnounced is the state the fleet guard's count includes.
	wasAnnounced bool
	canary       *Decision
}

// Evaluate reads the drain file and in, decides per prefix and carries the
// decisions out. It returns the decisions that changed something or were
// refused; a steady state returns none. It is cheap when nothing changes,
// so the agent calls it on every health transition, finding, alert and
// control request, and at NextDeadline.
func (e *Engine) Evaluate(ctx context.Context, now time.Time, in Input) []Decision {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	e.mu.Lock()
	e.setInput(in)
	e.expireHolds(now)
	out, _ := e.run(ctx, now, e.prefixes, nil)
	return out
}

// run decides for prefixes (with v overriding the verdict when set) under
// mu, which it releases; the caller holds spMu and mu. It returns the
// decisions that are news, and every decision per prefix (repeated
// refusals and waits included) for the callers of manual actions.
func (e *Engine) run(ctx context.Context, now time.Time, prefixes []netip.Prefix, v func(netip.Prefix, *prefixState, verdict) verdict) ([]Decision, map[netip.Prefix]Decision) {
	if now.After(e.lastNow) {
		e.lastNow = now
	}
	drained := e.isDrained()
	var out []Decision
	all := map[netip.Prefix]Decision{}
	var jobs []*job
	for _, p := range prefixes {
		ps := e.state[p]
		vv := e.want(p, ps, drained)
		if v != nil {
			vv = v(p, ps, vv)
		}
		d, carry, news := e.step(now, p, ps, vv, false)
		switch {
		case carry:
			jobs = append(jobs, &job{p: p, ps: ps, d: d, findingRule: vv.findingRule, wasAnnounced: !ps.known || ps.announced})
		case news:
			out = append(out, d)
		}
		if d.Action != "" && !carry {
			all[p] = d
		}
	}
	if len(jobs) == 0 {
		e.unlock()
		return out, all
	}
	e.mu.Unlock()
	e.carry(ctx, now, jobs)
	e.mu.Lock()
	for _, j := range jobs {
		d, news := e.commit(now, j)
		if news {
			out = append(out, d)
		}
		all[j.p] = d
	}
	e.unlock()
	return out, all
}

// unlock releases mu, then writes the audit lines and the state the
// decisions made under it produced: disk writes never hold up a reader.
func (e *Engine) unlock() {
	lines := e.outbox
	e.outbox = nil
	var st *State
	if e.dirty && e.statePath != "" {
		s := e.snapshot()
		st = &s
	}
	e.dirty = false
	e.mu.Unlock()
	for _, d := range lines {
		e.audit.write(d)
	}
	if st != nil {
		e.persist(*st)
	}
}

func (e *Engine) setInput(in Input) {
	e.input = in
	for c, s := range in.Checks {
		if s == "up" {
			e.seenUp[c] = true
		}
	}
}

// hystWait is how long a finding-based verdict must hold before the engine
// acts: (rise or fall − 1) × interval.
func (e *Engine) hystWait(action string) time.Duration {
	n := e.cfg.Fall
	if action == ActionAnnounce {
		n = e.cfg.Rise
	}
	return time.Duration(n-1) * e.interval
}

// step decides one prefix under mu. It returns the decision, whether it must
// be carried out (carry, with the lock released), and whether it is news (a
// refusal or dry-run recorded now). With simulate it changes nothing.
func (e *Engine) step(now time.Time, p netip.Prefix, ps *prefixState, v verdict, simulate bool) (Decision, bool, bool) {
	target := v.attrs
	if ps.known && v.action == ActionWithdraw && !ps.announced ||
		ps.known && v.action != ActionWithdraw && ps.announced && attrsEqual(ps.attrs, target) {
		if !simulate {
			ps.pending, ps.refusal, ps.lastKey = "", nil, ""
		}
		return Decision{}, false, false
	}
	d := Decision{Time: now.UTC(), Prefix: p, Action: v.action, Attributes: target, Source: v.source, Reason: v.reason, Evidence: v.evidence}
	if v.hyst {
		since := now
		if ps.pending == v.action {
			since = ps.pendingSince
		} else if !simulate {
			ps.pending, ps.pendingSince = v.action, now
		}
		if until := since.Add(e.hystWait(v.action)); now.Before(until) {
			d.Evidence = withKV(maps(d.Evidence), "held_for_seconds", now.Sub(since).Seconds(), "needed_seconds", e.hystWait(v.action).Seconds())
			d.Reason += fmt.Sprintf("; waiting until it has held for %s (rise/fall × interval)", e.hystWait(v.action))
			d.RetryAfter = Seconds(until.Sub(now))
			return d, false, false
		}
	} else if !simulate {
		ps.pending = ""
	}
	if v.action != ActionWithdraw && !(ps.known && ps.announced) && len(ps.gate) > 0 {
		var missing []string
		for _, c := range ps.gate {
			if !e.seenUp[c] {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			d.Reason += fmt.Sprintf("; start-up: not announced until health checks %s have reported up", strings.Join(missing, ", "))
			d.Evidence = withKV(maps(d.Evidence), "waiting_for_checks", missing)
			return d, false, false
		}
		if !simulate {
			ps.gate = nil
		}
	}
	// Degrade first: an automatic withdrawal of an announced route first
	// lowers its preference so traffic moves before the route goes.
	if v.action == ActionWithdraw && v.source == SourceRule && e.cfg.Degrade.BeforeWithdraw > 0 && ps.announced {
		if !attrsEqual(ps.attrs, e.degrade) {
			d.Action, d.Attributes = ActionDegrade, e.degrade
			d.Reason = v.reason + "; degrading before withdrawal"
			return d, true, false
		}
		if wait := ps.degradedAt.Add(e.cfg.Degrade.BeforeWithdraw.D()).Sub(now); wait > 0 {
			d.RetryAfter = Seconds(wait)
			d.Reason = v.reason + "; degraded, withdrawing after before_withdraw"
			return d, false, false
		}
	}
	if refused, ok := e.guard(now, ps, &d); ok {
		if simulate {
			return refused, false, true
		}
		ps.refusal = &refused
		return refused, false, e.record(ps, refused)
	}
	return d, true, false
}

// guard returns the decision refused when a guard that needs no I/O forbids
// d; the fleet guard runs in carry.
func (e *Engine) guard(now time.Time, ps *prefixState, d *Decision) (Decision, bool) {
	switch d.Action {
	case ActionWithdraw:
		if (d.Source == SourceRule || d.Source == SourceAlert) && e.cfg.MaxWithdrawalsPerHour > 0 {
			recent := e.recentWithdrawals(now)
			if len(recent) >= e.cfg.MaxWithdrawalsPerHour {
				return refuse(d, GuardRate, fmt.Sprintf("%d withdrawals in the last hour (cap %d)", len(recent), e.cfg.MaxWithdrawalsPerHour),
					recent[0].Add(time.Hour).Sub(now), "withdrawals_last_hour", len(recent), "cap", e.cfg.MaxWithdrawalsPerHour), true
			}
		}
	case ActionAnnounce, ActionDegrade:
		if ps.announced || ps.withdrawnAt.IsZero() {
			return Decision{}, false
		}
		// The hold-down ends at withdrawn_at + hold_down exactly: an
		// evaluation at that instant (NextDeadline) announces.
		if until := ps.withdrawnAt.Add(e.cfg.HoldDown.D()); now.Before(until) {
			return refuse(d, GuardHoldDown, fmt.Sprintf("hold-down of %s since the withdrawal", e.cfg.HoldDown.D()), until.Sub(now),
				"withdrawn_at", ps.withdrawnAt.UTC(), "hold_down", e.cfg.HoldDown.D().String()), true
		}
		if e.damp.enabled() {
			if wait := e.damp.announceWait(ps.penalty, now); wait > 0 {
				cur := ps.penalty.decayed(now, e.damp.HalfLife)
				return refuse(d, GuardDampening, fmt.Sprintf("penalty %.0f + %.0f would cross %.0f (%g of suppress %.0f)",
					cur, e.damp.ReadvertisementPenalty, e.damp.limit(), e.damp.MaxFraction, e.damp.SuppressThreshold), wait,
					"penalty", round1(cur), "limit", e.damp.limit(), "suppress", e.damp.SuppressThreshold, "profile", e.cfg.SelfDampening.Profile), true
			}
		}
	}
	return Decision{}, false
}

func refuse(d *Decision, guard, reason string, retry time.Duration, kv ...any) Decision {
	r := *d
	r.Outcome, r.Guard, r.RetryAfter = OutcomeRefused, guard, Seconds(retry)
	r.Reason = d.Reason + "; refused: " + reason
	r.Evidence = withKV(maps(d.Evidence), kv...)
	return r
}

// fleetCheck asks the fleet counter (network I/O: never under mu) whether
// withdrawing d leaves enough PoPs; it returns the refusal, or d with the
// count as evidence.
func (e *Engine) fleetCheck(ctx context.Context, d Decision, wasAnnounced bool) (Decision, bool) {
	if d.Action != ActionWithdraw || e.o.Fleet == nil {
		return d, false
	}
	n, err := e.o.Fleet.Announcing(ctx, d.Prefix)
	if err != nil {
		return refuse(&d, GuardFleet, "the fleet count cannot be read, keeping the announcement", 0, "error", err.Error(), "min_announcing", e.cfg.FleetGuard.MinAnnouncing), true
	}
	remaining := n
	if wasAnnounced {
		remaining--
	}
	if remaining < e.cfg.FleetGuard.MinAnnouncing {
		return refuse(&d, GuardFleet, fmt.Sprintf("only %d PoPs would still announce (min_announcing %d)", max(remaining, 0), e.cfg.FleetGuard.MinAnnouncing), 0,
			"announcing", n, "remaining", max(remaining, 0), "min_announcing", e.cfg.FleetGuard.MinAnnouncing), true
	}
	d.Evidence = withKV(maps(d.Evidence), "announcing", n, "remaining", remaining)
	return d, false
}

// carry runs the jobs' I/O with mu released (the caller holds spMu).
func (e *Engine) carry(ctx context.Context, now time.Time, jobs []*job) {
	for _, j := range jobs {
		var refused bool
		if j.d, refused = e.fleetCheck(ctx, j.d, j.wasAnnounced); refused {
			continue
		}
		if e.cfg.DryRun {
			j.d.Outcome = OutcomeDryRun
			continue
		}
		if j.d.Action != ActionWithdraw && e.cfg.Canary.IsValid() {
			if err := e.verifyCanary(ctx, now, j); err != nil {
				j.d.Outcome, j.d.Guard, j.d.Error = OutcomeRefused, GuardCanary, err.Error()
				j.d.Reason += "; refused: the canary prefix is not verified announced"
				continue
			}
		}
		var err error
		if j.d.Action == ActionWithdraw {
			err = e.o.Speaker.Withdraw(ctx, j.d.Prefix)
		} else {
			err = e.o.Speaker.Announce(ctx, j.d.Prefix, j.d.Attributes)
		}
		if err != nil {
			j.d.Outcome, j.d.Error = OutcomeFailed, err.Error()
			continue
		}
		j.d.Outcome = OutcomeApplied
	}
}

// commit records a carried-out job in the state (under mu) and reports
// whether it is news.
func (e *Engine) commit(now time.Time, j *job) (Decision, bool) {
	ps, d := j.ps, j.d
	if j.canary != nil {
		e.outbox = append(e.outbox, *j.canary)
		e.count(*j.canary)
	}
	switch d.Outcome {
	case OutcomeRefused:
		ps.refusal = &d
		return d, e.record(ps, d)
	case OutcomeDryRun:
		return d, e.record(ps, d)
	case OutcomeFailed:
		// The speaker may have half-done it: learn the state again next time.
		ps.known = false
		return d, e.record(ps, d)
	}
	wasAnnounced := ps.known && ps.announced
	switch {
	case d.Action == ActionWithdraw:
		ps.announced, ps.attrs, ps.withdrawnAt = false, speakers.Attributes{}, now
		ps.penalty = e.damp.add(ps.penalty, now, e.damp.WithdrawalPenalty)
		if d.Source == SourceRule || d.Source == SourceAlert {
			e.withdrawals = append(e.recentWithdrawals(now), now)
		}
	case wasAnnounced:
		ps.penalty = e.damp.add(ps.penalty, now, e.damp.AttributeChangePenalty)
	case !ps.withdrawnAt.IsZero():
		ps.penalty = e.damp.add(ps.penalty, now, e.damp.ReadvertisementPenalty)
	}
	if d.Action != ActionWithdraw {
		if d.Attributes.Degraded() && !ps.attrs.Degraded() {
			ps.degradedAt = now
		}
		ps.announced, ps.attrs = true, d.Attributes
	}
	switch {
	case d.Action == ActionAnnounce && !d.Attributes.Degraded():
		ps.findingHeld = false
	case d.Source == SourceRule:
		ps.findingHeld = j.findingRule
	}
	ps.known, ps.pending, ps.refusal = true, "", nil
	if e.damp.enabled() {
		d.Evidence = withKV(maps(d.Evidence), "penalty", round1(ps.penalty.Value))
	}
	e.dirty = true
	e.record(ps, d)
	e.o.Logger.Info("policy decision", "prefix", d.Prefix, "action", d.Action, "source", d.Source, "reason", d.Reason)
	return d, true
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

// verifyCanary announces the canary prefix if needed and checks through the
// speaker's state that it is announced: a speaker that cannot announce the
// canary must not be trusted with a service prefix. Called under spMu.
func (e *Engine) verifyCanary(ctx context.Context, now time.Time, j *job) error {
	if e.canaryOK {
		return nil
	}
	c := e.cfg.Canary.Prefix
	d := Decision{Time: now.UTC(), Prefix: c, Action: ActionAnnounce, Source: SourceCanary, Reason: "canary announced before service prefixes", Evidence: map[string]any{}}
	if err := e.o.Speaker.Announce(ctx, c, speakers.Attributes{}); err != nil {
		d.Outcome, d.Error = OutcomeFailed, err.Error()
		j.canary = &d
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
			j.canary = &d
			return nil
		}
	}
	return fmt.Errorf("canary %s announced but the speaker does not report it", c)
}

// record queues d for the audit unless it repeats the prefix's last audited
// decision (a refusal repeats at every evaluation; one line says it) and
// reports whether it was new.
func (e *Engine) record(ps *prefixState, d Decision) bool {
	key := fmt.Sprint(d.Action, d.Outcome, d.Guard, d.Source, d.Attributes.Degraded())
	if d.Outcome != OutcomeApplied && key == ps.lastKey {
		return false
	}
	ps.lastKey = key
	if d.Evidence == nil {
		d.Evidence = map[string]any{}
	}
	e.outbox = append(e.outbox, d)
	e.count(d)
	return true
}

func (e *Engine) count(d Decision) {
	if e.o.Metrics == nil {
		return
	}
	name := prometheus.Name("anydiag_policy_decisions_total", "prefix", d.Prefix.String(), "action", d.Action, "outcome", string(d.Outcome))
	c, ok := e.decisions[name]
	if !ok {
		c = e.o.Metrics.GetOrCreateCounter(name)
		e.decisions[name] = c
	}
	c.Inc()
	if d.Guard == GuardFleet {
		e.o.Metrics.GetOrCreateCounter(prometheus.Name("anydiag_policy_fleet_guard_refusals_total", "prefix", d.Prefix.String())).Inc()
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
		announced := get(func(ps *prefixState) float64 { return b2f(ps.announced) })
		pl := p.String()
		s.GetOrCreateGauge(prometheus.Name("anydiag_policy_announced", "prefix", pl), func() float64 {
			v := announced()
			if v == 1 && e.o.Advertised != nil {
				// Asked with mu released: the speaker has its own locks.
				if adv, ok := e.o.Advertised(p); ok && !adv {
					return 0
				}
			}
			return v
		})
		s.GetOrCreateGauge(prometheus.Name("anydiag_policy_degraded", "prefix", pl), get(func(ps *prefixState) float64 {
			return b2f(ps.announced && ps.attrs.Degraded())
		}))
		s.GetOrCreateGauge(prometheus.Name("anydiag_policy_dampening_penalty", "prefix", pl), get(func(ps *prefixState) float64 {
			return ps.penalty.decayed(e.o.Now(), e.damp.HalfLife)
		}))
		s.GetOrCreateGauge(prometheus.Name("anydiag_policy_alert_holds", "prefix", pl), get(func(ps *prefixState) float64 {
			return float64(ps.alerts.len())
		}))
		if e.damp.enabled() {
			s.GetOrCreateGauge(prometheus.Name("anydiag_policy_dampening_suppress_threshold", "prefix", pl), nil).Set(e.damp.SuppressThreshold)
		}
		s.GetOrCreateCounter(prometheus.Name("anydiag_policy_fleet_guard_refusals_total", "prefix", pl))
	}
	s.GetOrCreateCounter("anydiag_policy_audit_write_failures_total")
	s.GetOrCreateCounter("anydiag_policy_state_write_failures_total")
	s.GetOrCreateCounter("anydiag_policy_alert_holds_refused_total")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func attrsEqual(a, b speakers.Attributes) bool {
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

// NextDeadline is the earliest time after the last evaluation at which
// Evaluate with unchanged input would act or answer differently: the end of
// a hold-down, of degrade.before_withdraw, of a rise/fall wait, a guard's
// retry time (self-dampening reuse, withdrawal cap), an alert hold's expiry.
// Zero when nothing is scheduled. The agent evaluates at that instant.
func (e *Engine) NextDeadline() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if t.After(e.lastNow) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	drained := e.isDrained()
	for _, p := range e.prefixes {
		ps := e.state[p]
		if ps.pending != "" {
			consider(ps.pendingSince.Add(e.hystWait(ps.pending)))
		}
		// A hold-down under a hold (drain, manual, alert) ends unnoticed.
		if !ps.announced && !ps.withdrawnAt.IsZero() && e.cfg.HoldDown > 0 && !drained && ps.manual == "" && ps.alerts.len() == 0 {
			consider(ps.withdrawnAt.Add(e.cfg.HoldDown.D()))
		}
		if ps.announced && ps.attrs.Degraded() && e.cfg.Degrade.BeforeWithdraw > 0 {
			consider(ps.degradedAt.Add(e.cfg.Degrade.BeforeWithdraw.D()))
		}
		if r := ps.refusal; r != nil && r.RetryAfter > 0 {
			consider(r.Time.Add(time.Duration(r.RetryAfter)))
		}
	}
	if len(e.expiries) > 0 {
		consider(e.expiries[0].at)
	}
	return next
}

func (e *Engine) lookup(p netip.Prefix) (*prefixState, error) {
	ps, ok := e.state[p]
	if !ok {
		return nil, fmt.Errorf("policy: %s is not one of this node's anycast prefixes", p)
	}
	return ps, nil
}

// answer is the decision a manual action returns for p: what was done or
// refused, "waiting" when the policy will act later on its own (start-up
// gate, rise), "unchanged" when there was nothing to do.
func answer(now time.Time, p netip.Prefix, v verdict, all map[netip.Prefix]Decision) Decision {
	if d, ok := all[p]; ok {
		if d.Outcome == "" {
			d.Outcome = OutcomeWaiting
		}
		return d
	}
	return Decision{Time: now.UTC(), Prefix: p, Action: v.action, Source: v.source, Reason: v.reason + "; nothing to change",
		Evidence: v.evidence, Outcome: OutcomeUnchanged}
}

// ManualWithdraw withdraws prefix by hand and holds it withdrawn until
// ManualAnnounce. The fleet guard still applies; the withdrawal cap does
// not. A refused or failed withdrawal keeps no hold (the reason says so):
// the operator decides again, rather than the node withdrawing later on its
// own.
func (e *Engine) ManualWithdraw(ctx context.Context, prefix netip.Prefix, reason string) (Decision, error) {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	e.mu.Lock()
	ps, err := e.lookup(prefix)
	if err != nil {
		e.mu.Unlock()
		return Decision{}, err
	}
	if reason == "" {
		reason = "no reason given"
	}
	now := e.o.Now()
	prev := ps.manual
	ps.manual = reason
	e.dirty = true
	v := e.want(prefix, ps, e.isDrained())
	_, all := e.run(ctx, now, []netip.Prefix{prefix}, nil)
	d := answer(now, prefix, v, all)
	if d.Outcome == OutcomeRefused || d.Outcome == OutcomeFailed {
		e.mu.Lock()
		if ps.manual == reason {
			ps.manual = prev
			e.dirty = true
		}
		e.unlock()
		if prev == "" {
			d.Reason += "; the manual hold was not kept"
		} else {
			d.Reason += "; the earlier manual hold stays"
		}
	}
	return d, nil
}

// ManualAnnounce releases a manual withdrawal and the alert holds of prefix,
// then evaluates it: drain, hold-down and self-dampening still decide whether
// it is announced now (the decision says why not); rules act without
// waiting for rise.
func (e *Engine) ManualAnnounce(ctx context.Context, prefix netip.Prefix) (Decision, error) {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	e.mu.Lock()
	ps, err := e.lookup(prefix)
	if err != nil {
		e.mu.Unlock()
		return Decision{}, err
	}
	now := e.o.Now()
	ps.manual = ""
	ps.alerts.clear()
	e.dirty = true
	immediate := func(_ netip.Prefix, _ *prefixState, v verdict) verdict { v.hyst = false; return v }
	v := immediate(prefix, ps, e.want(prefix, ps, e.isDrained()))
	_, all := e.run(ctx, now, []netip.Prefix{prefix}, immediate)
	return answer(now, prefix, v, all), nil
}

// Drain withdraws every prefix for maintenance (creating the drain file when
// one is configured, so the drain survives a restart). The drain stays even
// when a guard refuses a withdrawal; the reason says so.
func (e *Engine) Drain(ctx context.Context) ([]Decision, error) {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	if e.cfg.DrainFile != "" {
		if err := safefile.WriteAtomic(e.cfg.DrainFile, fmt.Appendf(nil, "drained at %s\n", e.o.Now().UTC().Format(time.RFC3339))); err != nil {
			return nil, fmt.Errorf("policy: creating drain file: %w", err)
		}
	}
	e.mu.Lock()
	// With a drain file, the file is the drain (removing it by hand
	// undrains); without one, the flag is, persisted in the state file.
	e.drained, e.dirty = e.cfg.DrainFile == "", true
	now := e.o.Now()
	_, all := e.run(ctx, now, e.prefixes, nil)
	var ds []Decision
	for _, p := range e.prefixes {
		if d, ok := all[p]; ok {
			ds = append(ds, d)
		}
	}
	for i := range ds {
		if ds[i].Outcome == OutcomeRefused || ds[i].Outcome == OutcomeFailed {
			ds[i].Reason += "; the drain stays and withdraws the prefix as soon as the guard allows (anydiag undrain to cancel)"
		}
	}
	return ds, nil
}

// Undrain ends a drain (removing the drain file) and re-evaluates.
func (e *Engine) Undrain(ctx context.Context) ([]Decision, error) {
	e.spMu.Lock()
	defer e.spMu.Unlock()
	if e.cfg.DrainFile != "" {
		if err := os.Remove(e.cfg.DrainFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("policy: removing drain file: %w", err)
		}
	}
	e.mu.Lock()
	e.drained, e.dirty = false, true
	now := e.o.Now()
	_, all := e.run(ctx, now, e.prefixes, func(_ netip.Prefix, _ *prefixState, v verdict) verdict { v.hyst = false; return v })
	var ds []Decision
	for _, p := range e.prefixes {
		if d, ok := all[p]; ok {
			if d.Outcome == "" {
				d.Outcome = OutcomeWaiting
			}
			ds = append(ds, d)
		}
	}
	return ds, nil
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

// HoldsRefusedError reports firing alerts that were not held because their
// prefix already holds max_alert_holds_per_prefix alerts; the other alerts
// of the batch were applied, and no existing hold was evicted.
type HoldsRefusedError struct {
	Refused int
	Cap     int
	Prefix  []netip.Prefix
}

func (h *HoldsRefusedError) Error() string {
	return fmt.Sprintf("policy: %d firing alerts refused: %v already hold %d alerts each (max_alert_holds_per_prefix); existing holds are kept",
		h.Refused, h.Prefix, h.Cap)
}

// ApplyAlerts checks every alert first and changes nothing when one is
// invalid; then a firing alert holds its prefix in its action until it is
// resolved or expires (EndsAt, else alert_hold_ttl after the last
// notification), and a resolved one releases that hold, each through the
// guards. New holds beyond max_alert_holds_per_prefix are refused
// (*HoldsRefusedError) and the rest of the batch is applied.
func (e *Engine) ApplyAlerts(ctx context.Context, alerts []Alert) ([]Decision, error) {
	for i, a := range alerts {
		if err := e.CheckAlert(a); err != nil {
			return nil, fmt.Errorf("alert %d: %w", i, err)
		}
	}
	e.spMu.Lock()
	defer e.spMu.Unlock()
	e.mu.Lock()
	now := e.o.Now()
	touched := map[netip.Prefix]bool{}
	var capErr *HoldsRefusedError
	for _, a := range alerts {
		ps := e.state[a.Prefix]
		switch {
		case !a.Firing:
			if !ps.alerts.delete(a.Fingerprint) {
				continue
			}
		case ps.alerts.m[a.Fingerprint] == nil && ps.alerts.len() >= e.maxHolds:
			if capErr == nil {
				capErr = &HoldsRefusedError{Cap: e.maxHolds}
			}
			capErr.Refused++
			if !slices.Contains(capErr.Prefix, a.Prefix) {
				capErr.Prefix = append(capErr.Prefix, a.Prefix)
			}
			continue
		default:
			e.holdAlert(ps, a.Prefix, a.Fingerprint, alertHold{action: a.Action, name: a.Name, since: a.StartsAt, expires: holdExpiry(a, now, e.holdTTL)})
		}
		touched[a.Prefix] = true
		e.dirty = true
	}
	for _, p := range e.expireHolds(now) {
		touched[p] = true
	}
	var ps []netip.Prefix
	for _, p := range e.prefixes {
		if touched[p] {
			ps = append(ps, p)
		}
	}
	ds, _ := e.run(ctx, now, ps, nil)
	if capErr != nil {
		if e.o.Metrics != nil {
			e.o.Metrics.GetOrCreateCounter("anydiag_policy_alert_holds_refused_total").Add(capErr.Refused)
		}
		e.o.Logger.Warn("alert holds refused at the cap", "refused", capErr.Refused, "prefixes", capErr.Prefix, "max_alert_holds_per_prefix", capErr.Cap)
		return ds, capErr
	}
	return ds, nil
}

// Shutdown withdraws every announced prefix (and the canary) when
// withdraw_on_shutdown is on (the default); the fleet guard still applies.
func (e *Engine) Shutdown(ctx context.Context) []Decision {
	if e.cfg.WithdrawOnShutdown != nil && !*e.cfg.WithdrawOnShutdown {
		return nil
	}
	e.spMu.Lock()
	defer e.spMu.Unlock()
	e.mu.Lock()
	out, _ := e.run(ctx, e.o.Now(), e.prefixes, func(netip.Prefix, *prefixState, verdict) verdict {
		return verdict{action: ActionWithdraw, source: SourceShutdown, reason: "agent shutting down (withdraw_on_shutdown)", evidence: map[string]any{}}
	})
	if e.cfg.Canary.IsValid() && !e.cfg.DryRun {
		if err := e.o.Speaker.Withdraw(ctx, e.cfg.Canary.Prefix); err != nil {
			e.o.Logger.Warn("withdrawing canary on shutdown", "prefix", e.cfg.Canary.Prefix, "error", err)
		}
	}
	return out
}

// Findings reports the policy's own state as findings: withdrawn and
// drained prefixes, refusals by the fleet guard, self-dampening and the
// withdrawal cap, and a failing audit log or state file.
func (e *Engine) Findings(now time.Time) []finding.Finding {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []finding.Finding
	if e.isDrained() {
		out = append(out, finding.New("policy.drained", "node", "The node is drained: its anycast prefixes are withdrawn",
			map[string]any{"drain_file": e.cfg.DrainFile}, now))
	}
	if e.audit.failing.Load() {
		ev := map[string]any{"audit_file": e.cfg.AuditFile, "failures": e.audit.failures.Load()}
		if s := e.audit.lastErr.Load(); s != nil {
			ev["error"] = *s
		}
		out = append(out, finding.New("policy.audit_failing", "audit", "The policy's audit log cannot be written; decisions are carried out but not recorded", ev, now))
	}
	if e.stateHealth.failing.Load() {
		ev := map[string]any{"state_file": e.statePath, "failures": e.stateHealth.failures.Load()}
		if s := e.stateHealth.lastErr.Load(); s != nil {
			ev["error"] = *s
		}
		out = append(out, finding.New("policy.state_failing", "state", "The policy's state file cannot be written; a restart would forget withdrawals and holds made since the last good write", ev, now))
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
	Prefix     netip.Prefix        `json:"prefix"`
	Announced  bool                `json:"announced"`
	Known      bool                `json:"known"`
	Attributes speakers.Attributes `json:"attributes"`
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
	NextDeadline        time.Time           `json:"next_deadline,omitzero"`
	Prefixes            []PrefixExplanation `json:"prefixes"`
	Findings            []finding.Finding   `json:"findings"`
}

// Explain says what the policy would do now with the last input, and why,
// changing nothing. It never waits for a decision in flight; it may query
// the fleet counter, with no lock held.
func (e *Engine) Explain(ctx context.Context, now time.Time) Explanation {
	fs := e.Findings(now)
	next := e.NextDeadline()
	e.mu.Lock()
	drained := e.isDrained()
	x := Explanation{Time: now.UTC(), DryRun: e.cfg.DryRun, Drained: drained, NextDeadline: next,
		WithdrawalsLastHour: len(e.recentWithdrawals(now)), MaxPerHour: e.cfg.MaxWithdrawalsPerHour, Findings: fs}
	fleet := map[int]bool{}
	wasAnnounced := map[int]bool{}
	for i, p := range e.prefixes {
		ps := e.state[p]
		v := e.want(p, ps, drained)
		pe := PrefixExplanation{Prefix: p, Announced: ps.announced, Known: ps.known, Attributes: ps.attrs,
			Want: v.action, Source: v.source, Reason: v.reason, Evidence: v.evidence,
			Penalty: round1(ps.penalty.decayed(now, e.damp.HalfLife))}
		if ps.manual != "" {
			pe.Holds = append(pe.Holds, "manual: "+ps.manual)
		}
		pe.Holds = append(pe.Holds, ps.alerts.describe()...)
		d, carry, refused := e.step(now, p, ps, v, true)
		if carry || refused || d.Action != "" {
			pe.Next = &d
		}
		fleet[i], wasAnnounced[i] = carry && d.Action == ActionWithdraw, !ps.known || ps.announced
		x.Prefixes = append(x.Prefixes, pe)
	}
	e.mu.Unlock()
	for i := range x.Prefixes {
		if fleet[i] {
			d, _ := e.fleetCheck(ctx, *x.Prefixes[i].Next, wasAnnounced[i])
			x.Prefixes[i].Next = &d
		}
	}
	return x
}

// SetInput records the input Explain and the manual actions use, without
// evaluating; the agent normally gives it through Evaluate.
func (e *Engine) SetInput(in Input) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setInput(in)
}

func init() {
	d := prometheus.Describe
	d("anydiag_policy_decisions_total", prometheus.Counter, "Policy decisions by prefix, action (announce, withdraw, degrade) and outcome (applied, refused, dry_run, failed).")
	d("anydiag_policy_fleet_guard_refusals_total", prometheus.Counter, "Withdrawals refused by the fleet guard, by prefix.")
	d("anydiag_policy_announced", prometheus.Gauge, "1 if the node announces the prefix (and, with the embedded speaker, an established neighbor received it), 0 otherwise.")
	d("anydiag_policy_degraded", prometheus.Gauge, "1 if the prefix is announced degraded (MED, prepend or graceful-shutdown community).")
	d("anydiag_policy_dampening_penalty", prometheus.Gauge, "The node's own RFC 2439 penalty for the prefix, decayed to now.")
	d("anydiag_policy_dampening_suppress_threshold", prometheus.Gauge, "The upstream suppress threshold the self-dampening keeps the penalty below.")
	d("anydiag_policy_alert_holds", prometheus.Gauge, "Alertmanager alerts currently holding the prefix withdrawn or degraded.")
	d("anydiag_policy_alert_holds_refused_total", prometheus.Counter, "Firing alerts not held because their prefix had max_alert_holds_per_prefix holds already.")
	d("anydiag_policy_audit_write_failures_total", prometheus.Counter, "Audit lines that could not be written (full disk, I/O error); the decisions were carried out.")
	d("anydiag_policy_state_write_failures_total", prometheus.Counter, "Writes of the policy state file that failed (full disk, I/O error, path not a regular file); retried at the next change.")
}
