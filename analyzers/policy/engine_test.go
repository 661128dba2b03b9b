package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

var (
	pfx    = netip.MustParsePrefix("192.0.2.1/32")
	pfx2   = netip.MustParsePrefix("192.0.2.2/32")
	canary = netip.MustParsePrefix("192.0.2.254/32")
	t0     = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

// fakeSpeaker is an in-memory speaker that records its calls.
type fakeSpeaker struct {
	mu       sync.Mutex
	routes   map[netip.Prefix]speakers.Attributes
	calls    []string
	fail     error
	hideFrom map[netip.Prefix]bool // announced but not reported by State
}

func newFakeSpeaker() *fakeSpeaker {
	return &fakeSpeaker{routes: map[netip.Prefix]speakers.Attributes{}}
}

func (s *fakeSpeaker) Announce(_ context.Context, p netip.Prefix, a speakers.Attributes) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "announce "+p.String())
	if s.fail != nil {
		return s.fail
	}
	s.routes[p] = a
	return nil
}

func (s *fakeSpeaker) Withdraw(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "withdraw "+p.String())
	if s.fail != nil {
		return s.fail
	}
	delete(s.routes, p)
	return nil
}

func (s *fakeSpeaker) State(context.Context) ([]speakers.PrefixState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []speakers.PrefixState
	for p, a := range s.routes {
		if !s.hideFrom[p] {
			out = append(out, speakers.PrefixState{Prefix: p, Announced: true, Attributes: a})
		}
	}
	return out, nil
}

func (s *fakeSpeaker) announced(p netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.routes[p]
	return ok
}

type fakeFleet struct {
	n   int
	err error
}

func (f *fakeFleet) Announcing(context.Context, netip.Prefix) (int, error) { return f.n, f.err }

type harness struct {
	t     *testing.T
	e     *Engine
	sp    *fakeSpeaker
	audit *bytes.Buffer
	now   time.Time
	set   *metrics.Set
}

func newHarness(t *testing.T, cfg Config, fleet FleetCounter) *harness {
	t.Helper()
	h := &harness{t: t, sp: newFakeSpeaker(), audit: &bytes.Buffer{}, now: t0, set: metrics.NewSet()}
	var p yamlconf.Problems
	cfg.Check(&p, "policy")
	if p.Len() > 0 {
		t.Fatalf("config problems: %+v", p)
	}
	o := Options{Speaker: h.sp, Logger: slog.New(slog.DiscardHandler), Audit: h.audit, Metrics: h.set, Now: func() time.Time { return h.now }}
	if fleet != nil {
		o.Fleet = fleet
	}
	e, err := NewEngine(cfg, []netip.Prefix{pfx, pfx2}, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

func webDown() Input { return Input{Checks: map[string]string{"web": "down"}} }
func webUp() Input   { return Input{Checks: map[string]string{"web": "up"}} }

// eval advances the clock by d and evaluates; it returns the decision for pfx.
func (h *harness) eval(d time.Duration, in Input) *Decision {
	h.t.Helper()
	h.now = h.now.Add(d)
	for _, x := range h.e.Evaluate(context.Background(), h.now, in) {
		if x.Prefix == pfx {
			return &x
		}
	}
	return nil
}

func withdrawOnWebDown(prefixes ...netip.Prefix) []Rule {
	r := Rule{When: Condition{Check: "web", State: "down"}, Action: ActionWithdraw}
	for _, p := range prefixes {
		r.Prefixes = append(r.Prefixes, yamlconf.HostPrefix{Prefix: p})
	}
	return []Rule{r}
}

func expect(t *testing.T, d *Decision, action string, outcome Outcome, guard string) {
	t.Helper()
	if action == "" {
		if d != nil {
			t.Fatalf("unexpected decision %+v", *d)
		}
		return
	}
	if d == nil {
		t.Fatalf("no decision, want %s %s", action, outcome)
	}
	if d.Action != action || d.Outcome != outcome || d.Guard != guard {
		t.Fatalf("decision %s/%s/%q (%s), want %s/%s/%q", d.Action, d.Outcome, d.Guard, d.Reason, action, outcome, guard)
	}
}

func throttling() Input {
	return Input{Findings: []finding.Finding{finding.New("thermal.throttling", "cpu0", "CPU throttling", nil, t0)}}
}

// Finding rules carry no hysteresis of their own: policy.rise/fall hold them
// for (n-1) × interval, scheduled through NextDeadline, not counted in
// evaluations (which now happen on every event).
func TestHysteresisIsTimeBased(t *testing.T) {
	rules := []Rule{{When: Condition{Finding: "thermal.throttling"}, Action: ActionWithdraw, Prefixes: []yamlconf.HostPrefix{{Prefix: pfx}}}}
	h := newHarness(t, Config{Rise: 3, Fall: 2, Interval: yamlconf.Duration(time.Second), HoldDown: yamlconf.Duration(time.Minute), Rules: rules}, nil)
	expect(t, h.eval(0, Input{}), ActionAnnounce, OutcomeApplied, "") // no check rule: announced at once
	expect(t, h.eval(0, throttling()), "", "", "")                    // fall 2: must hold 1 interval
	for range 10 {                                                    // many events in between change nothing
		expect(t, h.eval(time.Millisecond, throttling()), "", "", "")
	}
	if got, want := h.e.NextDeadline(), t0.Add(time.Second); !got.Equal(want) {
		t.Fatalf("NextDeadline %s, want %s", got, want)
	}
	expect(t, h.eval(time.Second-10*time.Millisecond, throttling()), ActionWithdraw, OutcomeApplied, "")
	if h.sp.announced(pfx) || !h.sp.announced(pfx2) {
		t.Fatalf("speaker routes %v: want only %s withdrawn (the rule names it alone)", h.sp.routes, pfx)
	}
	withdrawn := h.now
	// Back to normal: announcing needs rise 3 = 2 intervals, and the hold-down.
	expect(t, h.eval(10*time.Second, Input{}), "", "", "")
	expect(t, h.eval(time.Second, throttling()), "", "", "") // streak broken
	start := h.now.Add(time.Second)
	expect(t, h.eval(time.Second, Input{}), "", "", "")
	if got, want := h.e.NextDeadline(), start.Add(2*time.Second); !got.Equal(want) {
		t.Fatalf("NextDeadline %s, want %s (rise)", got, want)
	}
	h.now = start.Add(2 * time.Second)
	d := h.eval(0, Input{})
	expect(t, d, ActionAnnounce, OutcomeRefused, GuardHoldDown)
	if got, want := h.e.NextDeadline(), withdrawn.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("NextDeadline %s, want the hold-down end %s", got, want)
	}
	h.now = withdrawn.Add(time.Minute)
	expect(t, h.eval(0, Input{}), ActionAnnounce, OutcomeApplied, "")
	if !h.e.NextDeadline().IsZero() {
		t.Fatalf("NextDeadline %s with nothing scheduled", h.e.NextDeadline())
	}
}

// A check rule acts on the first evaluation that sees the check down: the
// check's own fall already ran, policy.fall does not count again.
func TestCheckRuleActsAtOnce(t *testing.T) {
	h := newHarness(t, Config{Rise: 5, Fall: 5, Rules: withdrawOnWebDown(pfx)}, nil)
	expect(t, h.eval(0, webUp()), ActionAnnounce, OutcomeApplied, "")
	expect(t, h.eval(time.Millisecond, webDown()), ActionWithdraw, OutcomeApplied, "")
	expect(t, h.eval(time.Millisecond, webUp()), ActionAnnounce, OutcomeApplied, "")
}

// The hold-down ends at withdrawn_at + hold_down exactly: an evaluation at
// that instant (the one NextDeadline schedules) announces.
func TestHoldDownEndsExactly(t *testing.T) {
	h := newHarness(t, Config{HoldDown: yamlconf.Duration(time.Minute), Rules: withdrawOnWebDown(pfx)}, nil)
	h.eval(0, webUp())
	expect(t, h.eval(time.Second, webDown()), ActionWithdraw, OutcomeApplied, "")
	withdrawn := h.now
	d := h.eval(time.Second, webUp())
	expect(t, d, ActionAnnounce, OutcomeRefused, GuardHoldDown)
	if got := time.Duration(d.RetryAfter); got != 59*time.Second {
		t.Fatalf("retry after %s, want 59s", got)
	}
	dl := h.e.NextDeadline()
	if !dl.Equal(withdrawn.Add(time.Minute)) {
		t.Fatalf("NextDeadline %s, want %s", dl, withdrawn.Add(time.Minute))
	}
	h.now = dl.Add(-time.Nanosecond)
	expect(t, h.eval(0, webUp()), "", "", "") // refusal not repeated, still held
	h.now = dl
	expect(t, h.eval(0, webUp()), ActionAnnounce, OutcomeApplied, "")
}

func TestSelfDampening(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		// steps: offset from t0, web state, expected outcome for pfx
		steps []struct {
			at      time.Duration
			in      Input
			action  string
			outcome Outcome
			guard   string
			retry   time.Duration
		}
	}{
		{
			// Cisco: withdraw 1000, re-announce 0, suppress 2000; limit 0.5×2000 = 1000.
			// t0 withdraw: 1000. +5m: 1000×2^(-1/3) = 793.7 ≤ 1000, announce allowed.
			// +10m withdraw: 1000×2^(-2/3)+1000 = 1629.96. Allowed again when
			// 1629.96×2^(-t/15m) ≤ 1000: t = 15m×log2(1.62996) = 634.3533226 s.
			name: "cisco", profile: "cisco",
			steps: []struct {
				at      time.Duration
				in      Input
				action  string
				outcome Outcome
				guard   string
				retry   time.Duration
			}{
				{0, webDown(), ActionWithdraw, OutcomeApplied, "", 0},
				{5 * time.Minute, webUp(), ActionAnnounce, OutcomeApplied, "", 0},
				{10 * time.Minute, webDown(), ActionWithdraw, OutcomeApplied, "", 0},
				{11 * time.Minute, webUp(), ActionAnnounce, OutcomeRefused, GuardDampening, 634353322590 - 60e9},
				{10*time.Minute + 634353322590, webUp(), ActionAnnounce, OutcomeApplied, "", 0},
			},
		},
		{
			// Juniper: withdraw 1000, re-announce 1000, suppress 3000; limit 1500.
			// After one withdrawal the penalty is 1000; 1000+1000 > 1500 until it
			// decays to 500: exactly one half-life.
			name: "juniper", profile: "juniper",
			steps: []struct {
				at      time.Duration
				in      Input
				action  string
				outcome Outcome
				guard   string
				retry   time.Duration
			}{
				{0, webDown(), ActionWithdraw, OutcomeApplied, "", 0},
				{2 * time.Minute, webUp(), ActionAnnounce, OutcomeRefused, GuardDampening, 13 * time.Minute},
				{15 * time.Minute, webUp(), ActionAnnounce, OutcomeApplied, "", 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{HoldDown: yamlconf.Duration(time.Minute), Rules: withdrawOnWebDown(),
				SelfDampening: DampeningConfig{Profile: tt.profile, MaxFraction: 0.5, HalfLife: yamlconf.Duration(15 * time.Minute)}}
			h := newHarness(t, cfg, nil)
			h.sp.routes[pfx] = speakers.Attributes{}
			h.sp.routes[pfx2] = speakers.Attributes{}
			if err := h.e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				h.now = t0
				d := h.eval(s.at, s.in)
				expect(t, d, s.action, s.outcome, s.guard)
				if got := time.Duration(d.RetryAfter); got != s.retry {
					t.Fatalf("step %d: retry after %s (%d ns), want %s", i, got, got, s.retry)
				}
			}
			fs := h.e.Findings(h.now)
			for _, f := range fs {
				if f.Code == "policy.self_dampening" {
					t.Fatalf("refusal finding still present after the announce: %+v", f)
				}
			}
		})
	}
}

func TestSelfDampeningFinding(t *testing.T) {
	h := newHarness(t, Config{Rules: withdrawOnWebDown(),
		SelfDampening: DampeningConfig{Profile: "juniper", MaxFraction: 0.5}}, nil)
	expect(t, h.eval(0, webUp()), ActionAnnounce, OutcomeApplied, "")
	expect(t, h.eval(time.Minute, webDown()), ActionWithdraw, OutcomeApplied, "")
	expect(t, h.eval(time.Minute, webUp()), ActionAnnounce, OutcomeRefused, GuardDampening)
	fs := h.e.Findings(h.now)
	var found *finding.Finding
	for i := range fs {
		if fs[i].Code == "policy.self_dampening" && fs[i].Subject == pfx.String() {
			found = &fs[i]
		}
	}
	if found == nil {
		t.Fatalf("no self-dampening finding in %+v", fs)
	}
	if found.Evidence["limit"] != 1500.0 || found.Evidence["retry_after_seconds"] == nil {
		t.Fatalf("evidence %v", found.Evidence)
	}
}

func TestWithdrawalCap(t *testing.T) {
	h := newHarness(t, Config{MaxWithdrawalsPerHour: 2, Rules: withdrawOnWebDown()}, nil)
	h.eval(0, webUp())
	expect(t, h.eval(time.Minute, webDown()), ActionWithdraw, OutcomeApplied, "") // pfx and pfx2: 2 withdrawals
	expect(t, h.eval(time.Minute, webUp()), ActionAnnounce, OutcomeApplied, "")
	d := h.eval(time.Minute, webDown())
	expect(t, d, ActionWithdraw, OutcomeRefused, GuardRate)
	if got := time.Duration(d.RetryAfter); got != 58*time.Minute {
		t.Fatalf("retry after %s, want 58m", got)
	}
	// A manual withdrawal is not capped.
	md, err := h.e.ManualWithdraw(context.Background(), pfx, "maintenance")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, &md, ActionWithdraw, OutcomeApplied, "")
	expect(t, h.eval(58*time.Minute, webDown()), "", "", "")
}

func TestFleetGuard(t *testing.T) {
	tests := []struct {
		name    string
		fleet   *fakeFleet
		outcome Outcome
		guard   string
		code    string
	}{
		{"enough PoPs remain", &fakeFleet{n: 3}, OutcomeApplied, "", "policy.withdrawn"},
		{"too few would remain", &fakeFleet{n: 2}, OutcomeRefused, GuardFleet, "policy.fleet_guard"},
		{"count unreadable: keep announcing", &fakeFleet{err: errors.New("connection refused")}, OutcomeRefused, GuardFleet, "policy.fleet_guard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Rules: withdrawOnWebDown(pfx), FleetGuard: FleetGuardConfig{MinAnnouncing: 2, Source: SourceBMP, URL: "http://127.0.0.1:1"}}
			h := newHarness(t, cfg, tt.fleet)
			h.eval(0, webUp())
			expect(t, h.eval(time.Second, webDown()), ActionWithdraw, tt.outcome, tt.guard)
			if h.sp.announced(pfx) != (tt.outcome == OutcomeRefused) {
				t.Fatalf("speaker announces %s: %v", pfx, h.sp.announced(pfx))
			}
			var f *finding.Finding
			for _, x := range h.e.Findings(h.now) {
				if x.Code == tt.code {
					f = &x
				}
			}
			if f == nil {
				t.Fatalf("no %s finding", tt.code)
			}
			if tt.guard != "" && f.Severity != finding.Critical {
				t.Fatalf("fleet guard finding severity %s, want critical", f.Severity)
			}
			// Drains go through the guard too.
			if tt.outcome == OutcomeRefused {
				ds, err := h.e.Drain(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) == 0 || ds[0].Outcome != OutcomeRefused || !h.sp.announced(pfx) {
					t.Fatalf("drain not refused by the guard: %+v", ds)
				}
			}
		})
	}
}

func TestDrainFileDryRunAndAudit(t *testing.T) {
	drain := filepath.Join(t.TempDir(), "drain")
	h := newHarness(t, Config{DrainFile: drain}, nil)
	expect(t, h.eval(0, Input{}), ActionAnnounce, OutcomeApplied, "")
	if err := os.WriteFile(drain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.eval(time.Second, Input{})
	expect(t, d, ActionWithdraw, OutcomeApplied, "")
	if d.Source != SourceDrain || h.sp.announced(pfx2) {
		t.Fatalf("drain: %+v, speaker %v", d, h.sp.routes)
	}
	if _, err := h.e.Undrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(drain); !os.IsNotExist(err) {
		t.Fatalf("drain file still there: %v", err)
	}
	if !h.sp.announced(pfx) {
		t.Fatal("undrain did not announce")
	}

	// Every audit line is one JSON decision.
	lines := strings.Split(strings.TrimSpace(h.audit.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d audit lines, want 6:\n%s", len(lines), h.audit)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["action"] != "withdraw" || raw["outcome"] != "applied" || raw["source"] != "drain" || raw["prefix"] != "192.0.2.1/32" {
		t.Fatalf("audit line %s", lines[2])
	}
	var b strings.Builder
	h.set.WritePrometheus(&b)
	for _, want := range []string{
		`anydiag_policy_decisions_total{prefix="192.0.2.1/32",action="withdraw",outcome="applied"} 1`,
		`anydiag_policy_decisions_total{prefix="192.0.2.2/32",action="withdraw",outcome="applied"} 1`,
		`anydiag_policy_decisions_total{prefix="192.0.2.1/32",action="announce",outcome="applied"} 2`,
		`anydiag_policy_announced{prefix="192.0.2.1/32"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}

	// Dry-run decides and audits but never calls the speaker.
	dry := newHarness(t, Config{DryRun: true, Rules: withdrawOnWebDown()}, nil)
	dry.sp.routes[pfx] = speakers.Attributes{}
	if err := dry.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, dry.eval(0, webDown()), ActionWithdraw, OutcomeDryRun, "")
	expect(t, dry.eval(time.Second, webDown()), "", "", "")
	if len(dry.sp.calls) != 0 || !dry.sp.announced(pfx) {
		t.Fatalf("dry-run called the speaker: %v", dry.sp.calls)
	}
}

func TestDegradeBeforeWithdraw(t *testing.T) {
	cfg := Config{Rules: withdrawOnWebDown(pfx),
		Degrade: DegradeConfig{GracefulShutdown: true, Prepend: 2, BeforeWithdraw: yamlconf.Duration(30 * time.Second)}}
	h := newHarness(t, cfg, nil)
	h.eval(0, webUp())
	d := h.eval(time.Second, webDown())
	expect(t, d, ActionDegrade, OutcomeApplied, "")
	if a := h.sp.routes[pfx]; a.Prepend != 2 || len(a.Communities) != 1 || a.Communities[0].String() != "65535:0" {
		t.Fatalf("degraded attributes %+v", a)
	}
	expect(t, h.eval(29*time.Second, webDown()), "", "", "")
	expect(t, h.eval(time.Second, webDown()), ActionWithdraw, OutcomeApplied, "")
	// Health back: plain announcement, no community.
	expect(t, h.eval(time.Second, webUp()), ActionAnnounce, OutcomeApplied, "")
	if a := h.sp.routes[pfx]; a.Degraded() {
		t.Fatalf("re-announced degraded: %+v", a)
	}
}

func TestFindingRuleDegrade(t *testing.T) {
	cfg := Config{Rules: []Rule{{When: Condition{Finding: "thermal.throttling"}, Action: ActionDegrade, Degrade: &DegradeConfig{Prepend: 3}}}}
	h := newHarness(t, cfg, nil)
	h.eval(0, Input{})
	hot := Input{Findings: []finding.Finding{finding.New("thermal.throttling", "cpu0", "CPU throttling", nil, t0)}}
	d := h.eval(time.Second, hot)
	expect(t, d, ActionDegrade, OutcomeApplied, "")
	if d.Evidence["finding"] != "thermal.throttling" || h.sp.routes[pfx].Prepend != 3 {
		t.Fatalf("decision %+v, route %+v", d, h.sp.routes[pfx])
	}
	expect(t, h.eval(time.Second, Input{}), ActionAnnounce, OutcomeApplied, "")
}

func TestCanary(t *testing.T) {
	cfg := Config{Canary: yamlconf.HostPrefix{Prefix: canary}}
	h := newHarness(t, cfg, nil)
	h.sp.hideFrom = map[netip.Prefix]bool{canary: true}
	expect(t, h.eval(0, Input{}), ActionAnnounce, OutcomeRefused, GuardCanary)
	if h.sp.announced(pfx) {
		t.Fatal("service prefix announced although the canary is not verified")
	}
	h.sp.hideFrom = nil
	expect(t, h.eval(time.Second, Input{}), ActionAnnounce, OutcomeApplied, "")
	if first := h.sp.calls[len(h.sp.calls)-3]; first != "announce "+canary.String() {
		t.Fatalf("calls %v: the canary must be announced first", h.sp.calls)
	}
	h.e.Shutdown(context.Background())
	if len(h.sp.routes) != 0 {
		t.Fatalf("shutdown left %v announced", h.sp.routes)
	}
}

func TestAlertsAndManual(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	h.eval(0, Input{})
	ctx := context.Background()
	bad := []Alert{{Fingerprint: "a", Firing: true, Prefix: pfx, Action: ActionWithdraw}, {Fingerprint: "b", Firing: true, Prefix: netip.MustParsePrefix("203.0.113.9/32"), Action: ActionWithdraw}}
	if _, err := h.e.ApplyAlerts(ctx, bad); err == nil || !h.sp.announced(pfx) {
		t.Fatalf("an invalid batch must change nothing: err %v, routes %v", err, h.sp.routes)
	}
	ds, err := h.e.ApplyAlerts(ctx, bad[:1])
	if err != nil || len(ds) != 1 || ds[0].Outcome != OutcomeApplied || h.sp.announced(pfx) {
		t.Fatalf("firing alert: %v %+v", err, ds)
	}
	expect(t, h.eval(time.Second, Input{}), "", "", "") // the hold persists
	resolved := bad[0]
	resolved.Firing = false
	if ds, err := h.e.ApplyAlerts(ctx, []Alert{resolved}); err != nil || len(ds) != 1 || ds[0].Action != ActionAnnounce {
		t.Fatalf("resolved alert: %v %+v", err, ds)
	}
	if _, err := h.e.ManualWithdraw(ctx, pfx, "replacing optics"); err != nil || h.sp.announced(pfx) {
		t.Fatalf("manual withdraw: %v", err)
	}
	x := h.e.Explain(ctx, h.now)
	if x.Prefixes[0].Want != ActionWithdraw || x.Prefixes[0].Source != SourceManual || len(x.Prefixes[0].Holds) != 1 {
		t.Fatalf("explain %+v", x.Prefixes[0])
	}
	if d, err := h.e.ManualAnnounce(ctx, pfx); err != nil || d.Outcome != OutcomeApplied {
		t.Fatalf("manual announce: %v %+v", err, d)
	}
	if _, err := h.e.ManualWithdraw(ctx, netip.MustParsePrefix("203.0.113.9/32"), ""); err == nil {
		t.Fatal("manual withdraw of an unmanaged prefix accepted")
	}
}

func TestSpeakerFailureIsRetried(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	h.sp.fail = errors.New("bird: 8002 Configuration file error")
	d := h.eval(0, Input{})
	expect(t, d, ActionAnnounce, OutcomeFailed, "")
	h.sp.fail = nil
	expect(t, h.eval(time.Second, Input{}), ActionAnnounce, OutcomeApplied, "")
}

func BenchmarkEvaluate(b *testing.B) {
	rules := []Rule{{When: Condition{Check: "web", State: "down"}, Action: ActionWithdraw},
		{When: Condition{Finding: "thermal.throttling"}, Action: ActionDegrade, Degrade: &DegradeConfig{Prepend: 2}}}
	e, err := NewEngine(Config{Rules: rules, SelfDampening: DampeningConfig{Profile: "cisco", MaxFraction: 0.5}},
		[]netip.Prefix{pfx, pfx2}, Options{Speaker: newFakeSpeaker()})
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Checks: map[string]string{"web": "up", "dns": "up"}}
	for i := range 20 {
		in.Findings = append(in.Findings, finding.New("optics.rx_power_low", "eth"+string(rune('0'+i%10)), "low", nil, t0))
	}
	ctx := context.Background()
	e.Evaluate(ctx, t0, in)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Evaluate(ctx, t0.Add(time.Duration(i)*time.Second), in)
	}
}

func TestHandler(t *testing.T) {
	h := newHarness(t, Config{Rules: withdrawOnWebDown(pfx)}, nil)
	h.eval(0, webDown())
	srv := httptest.NewServer(h.e.Handler())
	defer srv.Close()
	var x Explanation
	getJSONT(t, srv.URL+"/api/v1/policy/explain", &x)
	if len(x.Prefixes) != 2 || x.Prefixes[0].Want != ActionWithdraw || x.Prefixes[0].Announced || !x.Prefixes[1].Announced {
		t.Fatalf("explain %+v", x)
	}
	var audit []map[string]any
	getJSONT(t, srv.URL+"/api/v1/policy/audit", &audit)
	if len(audit) != 1 || audit[0]["prefix"] != "192.0.2.2/32" {
		t.Fatalf("audit %+v", audit)
	}
	var fs []map[string]any
	getJSONT(t, srv.URL+"/api/v1/policy/findings", &fs)
	if len(fs) != 0 {
		t.Fatalf("findings %+v (pfx was never announced, so not withdrawn by the policy)", fs)
	}
}

func getJSONT(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
