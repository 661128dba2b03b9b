package policy

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// stateDir is a directory only the owner writes, as safefile demands.
func stateDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o750); err != nil {
		t.Fatal(err)
	}
	return d
}

// restartable builds engines on one speaker and one state file, as a
// restarted agent would.
type restartable struct {
	t   *testing.T
	cfg Config
	sp  *fakeSpeaker
	now time.Time
}

func (r *restartable) start(st *State) (*Engine, error) {
	e, err := NewEngine(r.cfg, []netip.Prefix{pfx, pfx2}, Options{Speaker: r.sp, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return r.now }, State: st})
	if err != nil {
		return nil, err
	}
	return e, e.Start(context.Background())
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := stateDir(t)
	audit := filepath.Join(dir, "audit.log")
	cfg := Config{AuditFile: audit, HoldDown: yamlconf.Duration(30 * time.Minute), Rules: withdrawOnWebDown(pfx2),
		SelfDampening: DampeningConfig{Profile: "cisco", MaxFraction: 0.5, HalfLife: yamlconf.Duration(15 * time.Minute)}}
	if got := cfg.StatePath(); got != filepath.Join(dir, StateFileName) {
		t.Fatalf("state path %s, want beside the audit log", got)
	}
	r := &restartable{t: t, cfg: cfg, sp: newFakeSpeaker(), now: t0}
	e1, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e1.Evaluate(ctx, r.now, webUp())
	if !r.sp.announced(pfx) || !r.sp.announced(pfx2) {
		t.Fatalf("not announced: %v", r.sp.routes)
	}
	if d, err := e1.ManualWithdraw(ctx, pfx, "replacing optics"); err != nil || d.Outcome != OutcomeApplied {
		t.Fatalf("manual withdraw %v %+v", err, d)
	}
	r.now = t0.Add(time.Minute)
	e1.Evaluate(ctx, r.now, webDown()) // pfx2 withdrawn by the rule at t0+1m: penalty 1000
	withdrawn := r.now

	// kill -9: no Shutdown; the speaker (BIRD, FRR) keeps what it had. The
	// new engine starts 15 minutes later: one half-life.
	r.now = t0.Add(16 * time.Minute)
	e2, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	x := e2.Explain(ctx, r.now)
	if len(x.Prefixes[0].Holds) != 1 || !strings.Contains(x.Prefixes[0].Holds[0], "replacing optics") {
		t.Fatalf("manual hold lost across the restart: %+v", x.Prefixes[0])
	}
	if x.Prefixes[1].Penalty != 500 {
		t.Fatalf("penalty after one half-life %v, want 500", x.Prefixes[1].Penalty)
	}
	if got, want := e2.NextDeadline(), withdrawn.Add(30*time.Minute); !got.Equal(want) {
		t.Fatalf("NextDeadline %s, want the hold-down end %s", got, want)
	}
	// The checks pass again; pfx stays withdrawn by hand, pfx2 waits for
	// the rest of its hold-down.
	ds := e2.Evaluate(ctx, r.now, webUp())
	if r.sp.announced(pfx) || r.sp.announced(pfx2) {
		t.Fatalf("restart undid a withdrawal: %v (decisions %+v)", r.sp.routes, ds)
	}
	if len(ds) != 1 || ds[0].Guard != GuardHoldDown {
		t.Fatalf("decisions %+v, want a hold-down refusal for %s", ds, pfx2)
	}
	r.now = withdrawn.Add(30 * time.Minute)
	e2.Evaluate(ctx, r.now, webUp())
	if !r.sp.announced(pfx2) || r.sp.announced(pfx) {
		t.Fatalf("after the hold-down: %v", r.sp.routes)
	}

	// A reload hands the state over in memory, start-up gate included.
	st := e2.State()
	e3, err := r.start(&st)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e3.ManualAnnounce(ctx, pfx); err != nil || d.Outcome != OutcomeApplied {
		t.Fatalf("manual announce after the hand-over: %v %+v", err, d)
	}
}

func TestStateFileUnreadable(t *testing.T) {
	dir := stateDir(t)
	path := filepath.Join(dir, "state.json")
	good, err := os.ReadFile(writeState(t, dir, path))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"truncated", good[:len(good)/2]},
		{"garbage", []byte("\x00\x01not json")},
		{"wrong version", []byte(`{"version": 99, "prefixes": []}`)},
		{"bad action", []byte(`{"version": 1, "prefixes": [{"prefix": "192.0.2.1/32", "alerts": [{"fingerprint": "a", "action": "explode", "expires": "2030-01-01T00:00:00Z"}]}]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, tt.body, 0o600); err != nil {
				t.Fatal(err)
			}
			r := &restartable{t: t, cfg: Config{StateFile: path}, sp: newFakeSpeaker(), now: t0}
			_, err := r.start(nil)
			if err == nil || !strings.Contains(err.Error(), "unreadable") || !strings.Contains(err.Error(), "rm "+path) {
				t.Fatalf("NewEngine on a %s state file: %v; want an error that names the fix", tt.name, err)
			}
		})
	}
	// A symlinked state file is refused, its target left alone.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "victim"), path); err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, cfg: Config{StateFile: path}, sp: newFakeSpeaker(), now: t0}
	if _, err := r.start(nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlinked state file: %v", err)
	}
}

// writeState makes an engine write a state file with a manual hold and
// returns its path.
func writeState(t *testing.T, dir, path string) string {
	t.Helper()
	r := &restartable{t: t, cfg: Config{StateFile: path}, sp: newFakeSpeaker(), now: t0}
	e, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ManualWithdraw(context.Background(), pfx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"saved_at":"2026-01-01T00:00:00Z","drained":true,"withdrawals_last_hour":["2026-01-01T00:00:00Z"],` +
		`"prefixes":[{"prefix":"192.0.2.1/32","manual":"x","withdrawn_at":"2026-01-01T00:00:00Z","penalty":{"value":1000,"at":"2026-01-01T00:00:00Z"},` +
		`"alerts":[{"fingerprint":"f","alertname":"A","action":"withdraw","expires":"2026-01-01T00:15:00Z"}]}]}`))
	f.Add([]byte(`{"version":1,"prefixes":[]}`))
	f.Add([]byte(`{"version":1,"prefixes":[{"prefix":"2001:db8::1/128","penalty":{"value":-1}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := LoadState(b)
		if err != nil {
			return
		}
		// Whatever loads must restore without a panic.
		e, err := NewEngine(Config{}, []netip.Prefix{pfx, pfx2}, Options{Speaker: newFakeSpeaker(), Logger: slog.New(slog.DiscardHandler),
			Now: func() time.Time { return t0 }, State: &st})
		if err != nil {
			t.Fatal(err)
		}
		e.Evaluate(context.Background(), t0, Input{})
		_ = e.NextDeadline()
	})
}

func TestStateFileInOpenDirRefused(t *testing.T) {
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, cfg: Config{StateFile: filepath.Join(open, "state.json")}, sp: newFakeSpeaker(), now: t0}
	if _, err := r.start(nil); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("state file in a world-writable directory: %v", err)
	}
}

// Without a drain file, a drain made through the API survives a restart
// through the state file.
func TestDrainSurvivesRestart(t *testing.T) {
	path := filepath.Join(stateDir(t), "state.json")
	r := &restartable{t: t, cfg: Config{StateFile: path}, sp: newFakeSpeaker(), now: t0}
	e1, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e1.Evaluate(ctx, t0, Input{})
	if _, err := e1.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	e2, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	e2.Evaluate(ctx, t0, Input{})
	if x := e2.Explain(ctx, t0); !x.Drained || r.sp.announced(pfx) {
		t.Fatalf("drain lost across the restart: drained %v, routes %v", x.Drained, r.sp.routes)
	}
	if _, err := e2.Undrain(ctx); err != nil {
		t.Fatal(err)
	}
	e3, err := r.start(nil)
	if err != nil {
		t.Fatal(err)
	}
	e3.Evaluate(ctx, t0, Input{})
	if !r.sp.announced(pfx) {
		t.Fatal("undrain lost across the restart")
	}
}

// A state file that cannot be written is counted and raised as
// policy.state_failing while the last write failed; the next good write
// clears the finding. The failures are real ones of safefile.WriteAtomic,
// made by changing the directory under a running engine.
func TestStateWriteFailureRaisesFinding(t *testing.T) {
	for _, tc := range []struct {
		name        string
		break_, fix func(t *testing.T, dir, path string)
		want        string
	}{
		{"state path became a directory",
			func(t *testing.T, _, path string) {
				os.Remove(path)
				if err := os.MkdirAll(filepath.Join(path, "x"), 0o750); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, _, path string) {
				if err := os.RemoveAll(path); err != nil {
					t.Fatal(err)
				}
			},
			"not a regular file"},
		{"directory opened to others",
			func(t *testing.T, dir, _ string) {
				if err := os.Chmod(dir, 0o777); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, dir, _ string) {
				if err := os.Chmod(dir, 0o750); err != nil {
					t.Fatal(err)
				}
			},
			"writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stateDir(t)
			path := filepath.Join(dir, "state.json")
			set := metrics.NewSet()
			now := t0
			e, err := NewEngine(Config{StateFile: path}, []netip.Prefix{pfx, pfx2}, Options{Speaker: newFakeSpeaker(),
				Logger: slog.New(slog.DiscardHandler), Metrics: set, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			failures := func() string {
				var b strings.Builder
				set.WritePrometheus(&b)
				for _, l := range strings.Split(b.String(), "\n") {
					if strings.HasPrefix(l, "anydiag_policy_state_write_failures_total ") {
						return strings.TrimPrefix(l, "anydiag_policy_state_write_failures_total ")
					}
				}
				return "absent"
			}
			stateFinding := func() *finding.Finding {
				for _, f := range e.Findings(now) {
					if f.Code == "policy.state_failing" {
						return &f
					}
				}
				return nil
			}
			e.Evaluate(ctx, now, Input{})
			if got := failures(); got != "0" || stateFinding() != nil {
				t.Fatalf("before the failure: metric %s, finding %+v", got, stateFinding())
			}

			tc.break_(t, dir, path)
			if _, err := e.ManualWithdraw(ctx, pfx, "maintenance"); err != nil {
				t.Fatal(err) // the withdrawal is carried out all the same
			}
			if got := failures(); got != "1" {
				t.Fatalf("failures metric %s after one failed write, want 1", got)
			}
			f := stateFinding()
			if f == nil {
				t.Fatal("no policy.state_failing finding after a failed write")
			}
			if s, _ := f.Evidence["error"].(string); !strings.Contains(s, tc.want) || f.Evidence["state_file"] != path {
				t.Fatalf("finding evidence %v, want the path and an error with %q", f.Evidence, tc.want)
			}

			tc.fix(t, dir, path)
			now = now.Add(time.Second)
			// The failed write left the state dirty: the next evaluation retries.
			e.Evaluate(ctx, now, Input{})
			if f := stateFinding(); f != nil {
				t.Fatalf("finding still raised after a good write: %+v", f)
			}
			if got := failures(); got != "1" {
				t.Fatalf("failures metric %s after the good write, want 1", got)
			}
			st, err := readState(path)
			if err != nil || st == nil || len(st.Prefixes) == 0 || st.Prefixes[0].Manual != "maintenance" {
				t.Fatalf("state file after the retry: %+v, %v", st, err)
			}
		})
	}
}
