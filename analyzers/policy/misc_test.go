package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// No prefix is announced before the checks its rules name have reported
// up; unknown never counts; a prefix without check rules announces at once.
func TestStartupGate(t *testing.T) {
	h := newHarness(t, Config{Rules: withdrawOnWebDown(pfx)}, nil)
	for _, st := range []string{"", "unknown", "down"} {
		in := Input{Checks: map[string]string{}}
		if st != "" {
			in.Checks["web"] = st
		}
		h.eval(time.Millisecond, in)
		if h.sp.announced(pfx) {
			t.Fatalf("announced with web %q", st)
		}
		if !h.sp.announced(pfx2) {
			t.Fatalf("%s has no check rule and must announce at once", pfx2)
		}
	}
	x := h.e.Explain(context.Background(), h.now)
	if !strings.Contains(x.Prefixes[0].Reason, "rule 0") {
		t.Fatalf("explain %+v", x.Prefixes[0])
	}
	h.e.SetInput(Input{Checks: map[string]string{"web": "unknown"}})
	if x := h.e.Explain(context.Background(), h.now); x.Prefixes[0].Next == nil || !strings.Contains(x.Prefixes[0].Next.Reason, "start-up") {
		t.Fatalf("explain does not say why: %+v", x.Prefixes[0].Next)
	}
	expect(t, h.eval(time.Millisecond, webUp()), ActionAnnounce, OutcomeApplied, "")
	// Once open the gate stays open: unknown does not match "state: down".
	expect(t, h.eval(time.Millisecond, webDown()), ActionWithdraw, OutcomeApplied, "")
	expect(t, h.eval(time.Millisecond, Input{Checks: map[string]string{"web": "unknown"}}), ActionAnnounce, OutcomeApplied, "")
}

func TestSecondsAndDecisionJSONRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0.0005", 500 * time.Microsecond, true},
		{"58", 58 * time.Second, true},
		{"1e-9", time.Nanosecond, true},
		{`"58s"`, 0, false},
		{"1e300", 0, false},
		{"null", 0, true},
		{"[]", 0, false},
		{"58abc", 0, false},
		{"NaN", 0, false},
	} {
		var s Seconds
		err := json.Unmarshal([]byte(tt.in), &s)
		if (err == nil) != tt.ok || (tt.ok && time.Duration(s) != tt.want) {
			t.Errorf("Seconds(%s) = %s, %v; want %s ok=%v", tt.in, time.Duration(s), err, tt.want, tt.ok)
		}
	}
	h := newHarness(t, Config{HoldDown: yamlconf.Duration(time.Minute), Rules: withdrawOnWebDown(pfx)}, nil)
	h.eval(0, webUp())
	h.eval(time.Second, webDown())
	h.now = h.now.Add(time.Minute - 500*time.Microsecond)
	h.e.SetInput(webUp())
	x := h.e.Explain(context.Background(), h.now)
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var back Explanation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decoding an explanation with a retry time: %v\n%s", err, b)
	}
	next := back.Prefixes[0].Next
	if next == nil || next.Guard != GuardHoldDown || time.Duration(next.RetryAfter) != 500*time.Microsecond {
		t.Fatalf("round trip lost the retry time: %+v", next)
	}
	if !reflect.DeepEqual(back.Prefixes[0].Next.Prefix, x.Prefixes[0].Next.Prefix) || !back.Time.Equal(x.Time) {
		t.Fatalf("round trip %+v != %+v", back, x)
	}
}

// diskFull is an audit file on a full disk: it takes part of a line and
// fails with ENOSPC, like write(2) on a file system that ran out of blocks.
type diskFull struct {
	data  []byte
	full  bool
	calls int
}

func (f *diskFull) Write(b []byte) (int, error) {
	f.calls++
	if f.full {
		n := len(b) / 2
		f.data = append(f.data, b[:n]...)
		return n, &os.PathError{Op: "write", Path: "audit.log", Err: syscall.ENOSPC}
	}
	f.data = append(f.data, b...)
	return len(b), nil
}
func (f *diskFull) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekEnd || off != 0 {
		return 0, errors.New("unsupported seek")
	}
	return int64(len(f.data)), nil
}
func (f *diskFull) Truncate(n int64) error { f.data = f.data[:n]; return nil }

func TestAuditFullDisk(t *testing.T) {
	h := newHarness(t, Config{Rules: withdrawOnWebDown(pfx)}, nil)
	disk := &diskFull{}
	h.e.audit.w = disk
	h.eval(0, webUp())
	disk.full = true
	expect(t, h.eval(time.Second, webDown()), ActionWithdraw, OutcomeApplied, "") // carried out all the same
	if disk.calls != 3 {
		t.Fatalf("%d write calls for 3 lines, want one each", disk.calls)
	}
	lines := strings.Split(string(disk.data), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("audit file %q: want the two whole lines written before the disk filled, no partial one", disk.data)
	}
	for _, l := range lines[:2] {
		var d Decision
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	var b strings.Builder
	h.set.WritePrometheus(&b)
	if !strings.Contains(b.String(), "anydiag_policy_audit_write_failures_total 1") {
		t.Fatalf("metric:\n%s", b.String())
	}
	var f *finding.Finding
	for _, x := range h.e.Findings(h.now) {
		if x.Code == "policy.audit_failing" {
			f = &x
		}
	}
	if f == nil || !strings.Contains(f.Evidence["error"].(string), "no space left") {
		t.Fatalf("no policy.audit_failing finding with the cause: %+v", f)
	}
	disk.full = false
	h.eval(time.Second, webUp())
	for _, x := range h.e.Findings(h.now) {
		if x.Code == "policy.audit_failing" {
			t.Fatal("finding stays after the disk has room again")
		}
	}
}

// POST /control/drain must not follow a symlinked drain_file onto its target.
func TestDrainFileSymlinkLeavesVictim(t *testing.T) {
	dir := stateDir(t)
	victim := filepath.Join(dir, "passwd")
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	drain := filepath.Join(dir, "drain")
	if err := os.Symlink(victim, drain); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{DrainFile: drain}, nil)
	if _, err := h.e.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0\n" {
		t.Fatalf("drain wrote through the symlink: %q", b)
	}
	if fi, err := os.Lstat(drain); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("drain file %v %v, want a regular file replacing the link", fi, err)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, Config{DrainFile: filepath.Join(open, "drain")}, nil)
	if _, err := h2.e.Drain(context.Background()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("drain file in a world-writable directory: %v", err)
	}
}

// fall × interval, sub-second intervals included: the withdrawal comes at
// (fall − 1) × interval after the finding appeared, not a tick later.
func TestFindingFallWait(t *testing.T) {
	for _, tt := range []struct {
		interval time.Duration
		fall     int
	}{{100 * time.Millisecond, 1}, {100 * time.Millisecond, 3}, {200 * time.Millisecond, 2}, {time.Second, 2}} {
		t.Run(fmt.Sprintf("interval=%s,fall=%d", tt.interval, tt.fall), func(t *testing.T) {
			rules := []Rule{{When: Condition{Finding: "thermal.throttling"}, Action: ActionWithdraw}}
			h := newHarness(t, Config{Fall: tt.fall, Interval: yamlconf.Duration(tt.interval), Rules: rules}, nil)
			h.eval(0, Input{})
			seen := h.now.Add(time.Millisecond)
			h.now = seen
			wait := time.Duration(tt.fall-1) * tt.interval
			if wait == 0 {
				expect(t, h.eval(0, throttling()), ActionWithdraw, OutcomeApplied, "")
				return
			}
			expect(t, h.eval(0, throttling()), "", "", "")
			if got := h.e.NextDeadline(); !got.Equal(seen.Add(wait)) {
				t.Fatalf("NextDeadline %s, want %s", got, seen.Add(wait))
			}
			h.now = seen.Add(wait - time.Nanosecond)
			expect(t, h.eval(0, throttling()), "", "", "")
			h.now = seen.Add(wait)
			expect(t, h.eval(0, throttling()), ActionWithdraw, OutcomeApplied, "")
		})
	}
}
