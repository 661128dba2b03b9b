package policy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/anydiag/anydiag/internal/safefile"
)

// StateVersion is the version of the state file this package writes.
const StateVersion = 1

// maxStateBytes bounds the state file read at start: holds are capped per
// prefix, so a legitimate file is far smaller.
const maxStateBytes = 16 << 20

// StateFileName is the state file's name beside the audit log when
// policy.state_file is not set.
const StateFileName = "anydiag-policy-state.json"

// State is what the policy remembers across restarts and reloads: what an
// operator or Alertmanager asked for, and what the upstream routers have
// seen of this node (withdrawals, penalties), so that neither a kill -9 nor a
// reload undoes a withdrawal or resets the flap accounting.
type State struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"`
	Drained bool      `json:"drained,omitempty"`
	// Withdrawals are the automatic withdrawals of the last hour, for
	// max_withdrawals_per_hour.
	Withdrawals []time.Time    `json:"withdrawals_last_hour,omitempty"`
	Prefixes    []PrefixRecord `json:"prefixes"`
	// ChecksUp are the health checks the engine has seen up, handed over on
	// a reload so that the start-up gate does not close again. Never written
	// to the file: after a restart the checks must pass again.
	ChecksUp []string `json:"-"`
}

// PrefixRecord is the remembered state of one prefix.
type PrefixRecord struct {
	Prefix netip.Prefix `json:"prefix"`
	// Manual is the reason of a manual withdrawal; empty when none.
	Manual      string        `json:"manual,omitempty"`
	WithdrawnAt time.Time     `json:"withdrawn_at,omitzero"`
	Penalty     Penalty       `json:"penalty,omitzero"`
	Alerts      []AlertRecord `json:"alerts,omitempty"`
}

// AlertRecord is one alert hold.
type AlertRecord struct {
	Fingerprint string    `json:"fingerprint"`
	Name        string    `json:"alertname,omitempty"`
	Action      string    `json:"action"`
	Since       time.Time `json:"since,omitzero"`
	Expires     time.Time `json:"expires"`
}

// StatePath is where the state is kept: state_file, else beside the audit
// log, else nowhere (memory only).
func (c Config) StatePath() string {
	if c.StateFile != "" {
		return c.StateFile
	}
	if c.AuditFile != "" {
		return filepath.Join(filepath.Dir(c.AuditFile), StateFileName)
	}
	return ""
}

// LoadState parses and checks a state file's content.
func LoadState(b []byte) (State, error) {
	var st State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("invalid JSON: data after the state")
	}
	if st.Version != StateVersion {
		return State{}, fmt.Errorf("version %d, want %d", st.Version, StateVersion)
	}
	seen := map[netip.Prefix]bool{}
	for i, p := range st.Prefixes {
		if !p.Prefix.IsValid() {
			return State{}, fmt.Errorf("prefixes[%d]: no valid prefix", i)
		}
		if seen[p.Prefix] {
			return State{}, fmt.Errorf("prefixes[%d]: %s listed twice", i, p.Prefix)
		}
		seen[p.Prefix] = true
		if p.Penalty.Value < 0 || p.Penalty.Value != p.Penalty.Value {
			return State{}, fmt.Errorf("prefixes[%d]: invalid penalty %v", i, p.Penalty.Value)
		}
		fps := map[string]bool{}
		for j, a := range p.Alerts {
			switch {
			case a.Fingerprint == "":
				return State{}, fmt.Errorf("prefixes[%d].alerts[%d]: no fingerprint", i, j)
			case fps[a.Fingerprint]:
				return State{}, fmt.Errorf("prefixes[%d].alerts[%d]: fingerprint %q listed twice", i, j, a.Fingerprint)
			case a.Action != ActionWithdraw && a.Action != ActionDegrade:
				return State{}, fmt.Errorf("prefixes[%d].alerts[%d]: unknown action %q", i, j, a.Action)
			case a.Expires.IsZero():
				return State{}, fmt.Errorf("prefixes[%d].alerts[%d]: no expiry", i, j)
			}
			fps[a.Fingerprint] = true
		}
	}
	return st, nil
}

// readState reads the state file; a missing file is a first start.
func readState(path string) (*State, error) {
	b, err := safefile.ReadFile(path, maxStateBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: state file: %w", err)
	}
	st, err := LoadState(b)
	if err != nil {
		return nil, fmt.Errorf("policy: state file %s is unreadable (%w); it holds manual withdrawals, alert holds and hold-downs, so the agent will not start without it: repair it, or remove it to forget them (rm %s)", path, err, path)
	}
	return &st, nil
}

// State returns what the engine would persist now, for a reload to hand to
// the next engine (Options.State).
func (e *Engine) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.snapshot()
	for c := range e.seenUp {
		st.ChecksUp = append(st.ChecksUp, c)
	}
	slices.Sort(st.ChecksUp)
	return st
}

func (e *Engine) snapshot() State {
	st := State{Version: StateVersion, SavedAt: e.o.Now().UTC(), Drained: e.drained, Prefixes: []PrefixRecord{}}
	st.Withdrawals = append(st.Withdrawals, e.withdrawals...)
	for _, p := range e.prefixes {
		ps := e.state[p]
		r := PrefixRecord{Prefix: p, Manual: ps.manual, WithdrawnAt: ps.withdrawnAt, Penalty: ps.penalty}
		for fp, h := range ps.alerts.m {
			r.Alerts = append(r.Alerts, AlertRecord{Fingerprint: fp, Name: h.name, Action: h.action, Since: h.since, Expires: h.expires})
		}
		slices.SortFunc(r.Alerts, func(a, b AlertRecord) int { return cmp.Compare(a.Fingerprint, b.Fingerprint) })
		st.Prefixes = append(st.Prefixes, r)
	}
	return st
}

// restore applies a loaded or handed-over state; prefixes no longer
// configured are dropped (and logged), expired holds are not restored.
func (e *Engine) restore(st State, now time.Time) {
	e.drained = st.Drained && e.cfg.DrainFile == ""
	for _, t := range st.Withdrawals {
		if now.Sub(t) < time.Hour {
			e.withdrawals = append(e.withdrawals, t)
		}
	}
	for _, c := range st.ChecksUp {
		e.seenUp[c] = true
	}
	for _, r := range st.Prefixes {
		ps, ok := e.state[r.Prefix]
		if !ok {
			e.o.Logger.Warn("policy state names a prefix no longer configured; dropping its holds", "prefix", r.Prefix, "manual", r.Manual, "alerts", len(r.Alerts))
			continue
		}
		ps.manual, ps.withdrawnAt, ps.penalty = r.Manual, r.WithdrawnAt, r.Penalty
		for _, a := range r.Alerts {
			if !a.Expires.After(now) {
				continue
			}
			if ps.alerts.len() >= e.maxHolds {
				e.o.Logger.Warn("policy state holds more alerts than max_alert_holds_per_prefix; dropping the rest", "prefix", r.Prefix)
				break
			}
			e.holdAlert(ps, r.Prefix, a.Fingerprint, alertHold{action: a.Action, name: a.Name, since: a.Since, expires: a.Expires})
		}
	}
}

// stateHealth is the state file's write record, for the
// policy.state_failing finding: a withdrawal that is not on disk is undone
// by a restart, so a failing write must be visible, not only logged.
type stateHealth struct {
	failures atomic.Uint64
	failing  atomic.Bool
	lastErr  atomic.Pointer[string]
}

// persist writes st to the state file; the decisions it records are already
// carried out, so a failure is logged, counted, raised as a finding until
// the next good write, and retried at the next change.
func (e *Engine) persist(st State) {
	if e.statePath == "" {
		return
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err == nil {
		err = safefile.WriteAtomic(e.statePath, append(b, '\n'))
	}
	if err == nil {
		e.stateHealth.failing.Store(false)
		return
	}
	e.o.Logger.Error("policy: writing state file", "path", e.statePath, "error", err)
	e.stateHealth.failures.Add(1)
	msg := err.Error()
	e.stateHealth.lastErr.Store(&msg)
	e.stateHealth.failing.Store(true)
	if e.o.Metrics != nil {
		e.o.Metrics.GetOrCreateCounter("anydiag_policy_state_write_failures_total").Inc()
	}
	e.mu.Lock()
	e.dirty = true
	e.mu.Unlock()
}
