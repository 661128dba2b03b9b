package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/lab"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := lab.WaitFor(context.Background(), 10*time.Second, 5*time.Millisecond, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestSchedulerIsolatesFailingHangingAndPanickingTasks(t *testing.T) {
	var okRuns, hangRuns atomic.Int64
	release := make(chan struct{})
	defer close(release)
	store := newFindingStore(time.Now)
	s := newScheduler(time.Now, quietLog(), &sync.Map{}, func(task string, fs []finding.Finding, err error, _ time.Duration) {
		if err != nil {
			fs = append(fs, finding.New("collector.failed", "collector "+task, err.Error(), nil, time.Now()))
		}
		store.set(task, kindInput, fs)
	})
	tasks := []Task{
		{Name: "ok", Interval: 5 * time.Millisecond, Timeout: time.Second, Run: func(context.Context) ([]finding.Finding, error) {
			okRuns.Add(1)
			return []finding.Finding{finding.New("thermal.near_critical", "cpu0", "hot", nil, time.Now())}, nil
		}},
		{Name: "fail", Interval: 5 * time.Millisecond, Timeout: time.Second, Run: func(context.Context) ([]finding.Finding, error) {
			return nil, errors.New("device vanished")
		}},
		{Name: "hang", Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, Run: func(context.Context) ([]finding.Finding, error) {
			hangRuns.Add(1)
			<-release // ignores its context, like a stuck syscall
			return nil, nil
		}},
		{Name: "panic", Interval: 5 * time.Millisecond, Timeout: time.Second, Run: func(context.Context) ([]finding.Finding, error) {
			var m map[string]int
			m["x"]++
			return nil, nil
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx, tasks); close(done) }()

	waitFor(t, "the healthy task to keep running while another hangs", func() bool { return okRuns.Load() >= 5 })
	failed := map[string]bool{}
	waitFor(t, "failures of fail, hang and panic", func() bool {
		for _, f := range store.all() {
			if f.Code == "collector.failed" {
				failed[f.Subject] = true
			}
		}
		return failed["collector fail"] && failed["collector hang"] && failed["collector panic"]
	})
	if n := hangRuns.Load(); n != 1 {
		t.Errorf("a hung run must not be started again while in flight; started %d times", n)
	}
	var hasOK bool
	for _, f := range store.all() {
		hasOK = hasOK || f.Code == "thermal.near_critical"
	}
	if !hasOK {
		t.Error("healthy task's finding missing")
	}
	cancel()
	<-done
}

func TestFindingStoreKeepsSince(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newFindingStore(clock)
	f := finding.New("link.down", "eth0", "down", nil, time.Time{})
	f.Since = time.Time{}
	s.set("link", kindInput, []finding.Finding{f})
	first := s.all()[0].Since
	now = now.Add(time.Hour)
	s.set("link", kindInput, []finding.Finding{f})
	if got := s.all()[0].Since; !got.Equal(first) {
		t.Fatalf("since moved from %v to %v", first, got)
	}
	s.set("link", kindInput, nil)
	s.set("link", kindInput, []finding.Finding{f})
	if got := s.all()[0].Since; !got.Equal(now) {
		t.Fatalf("a finding that went away and came back starts anew: %v", got)
	}
}

// The policy's input is chosen by kind: a task's findings are in it, the
// health checks' (read as states) and the policy's own are not, whatever
// their source is called or their codes begin with.
func TestFindingStorePolicyInputByKind(t *testing.T) {
	s := newFindingStore(time.Now)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.set("link", kindInput, []finding.Finding{finding.New("link.down", "eth0", "down", nil, at)})
	// A task whose findings carry a policy code is still an input.
	s.set("policy-like", kindInput, []finding.Finding{finding.New("policy.withdrawn", "192.0.2.9/32", "x", nil, at)})
	s.set("health", kindHealth, []finding.Finding{finding.New("health.check_failing", "check web", "down", nil, at)})
	s.set("policy", kindPolicy, []finding.Finding{finding.New("policy.withdrawn", "192.0.2.1/32", "withdrawn", nil, at)})
	var got []string
	for _, f := range s.policyInput() {
		got = append(got, f.Code+" "+f.Subject)
	}
	slices.Sort(got)
	if want := []string{"link.down eth0", "policy.withdrawn 192.0.2.9/32"}; !slices.Equal(got, want) {
		t.Errorf("policy input = %v, want %v", got, want)
	}
	if n := len(s.all()); n != 4 {
		t.Errorf("all = %d findings, want 4", n)
	}
}

const baseConfig = `node: {name: test1, site: lab, continent: EU}
anycast: {prefixes: [192.0.2.1/32]}
collectors:
  thermal: {enabled: true, interval: 50ms, sysfs_root: %s}
`

func startAgent(t *testing.T, cfg string) (*Agent, string, func()) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{ConfigPath: path, Version: "test", Log: quietLog(), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent stopped with %v", err)
		}
	}
	return a, "http://" + ln.Addr().String(), stop
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func fixtureSys(t *testing.T) string {
	p, err := filepath.Abs("../../collectors/thermal/testdata/intel-server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("thermal fixture missing: %v", err)
	}
	return p
}

func TestAgentServesMetricsFindingsAndStatus(t *testing.T) {
	sys := fixtureSys(t)
	a, base, stop := startAgent(t, strings.ReplaceAll(baseConfig, "%s", sys))
	defer stop()
	waitFor(t, "a thermal run", func() bool { return strings.Contains(get(t, base+"/metrics"), "anydiag_thermal_sensor_celsius") })

	body := get(t, base+"/metrics")
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
	var fs []finding.Finding
	if err := json.Unmarshal([]byte(get(t, base+"/api/v1/findings")), &fs); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal([]byte(get(t, base+"/api/v1/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Node.Name != "test1" || len(st.Collectors) != 1 || st.Collectors[0].Name != "thermal" {
		t.Fatalf("status %+v", st)
	}
	if get(t, base+"/healthz") != "ok\n" {
		t.Fatal("healthz")
	}
	_ = a
}

func TestReloadRejectsInvalidConfigAndKeepsTheOld(t *testing.T) {
	sys := fixtureSys(t)
	a, base, stop := startAgent(t, strings.ReplaceAll(baseConfig, "%s", sys))
	defer stop()
	runs := func() uint64 {
		var st Status
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/status")), &st); err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Collectors {
			if c.Name == "thermal" {
				return c.Runs
			}
		}
		return 0
	}
	waitFor(t, "a few thermal runs", func() bool { return runs() >= 3 })
	before := runs()
	if err := os.WriteFile(a.opts.ConfigPath, []byte("node: {name: x}\nanycast: {prefixes: [192.0.2.0/24]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := a.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "host route") {
		t.Fatalf("reload of an invalid file: %v", err)
	}
	if a.Config().Node.Name != "test1" {
		t.Fatal("old configuration not kept")
	}
	if got := runs(); got < before {
		t.Errorf("a rejected reload reset the collector's run counter from %d to %d", before, got)
	}
	m := get(t, base+"/metrics")
	if !strings.Contains(m, `anydiag_config_reloads_total{result="rejected"} 1`) || !strings.Contains(m, "anydiag_config_last_reload_successful 0") {
		t.Fatalf("reload metrics missing:\n%s", m)
	}
	good := strings.ReplaceAll(strings.ReplaceAll(baseConfig, "%s", sys), "test1", "test2")
	if err := os.WriteFile(a.opts.ConfigPath, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Config().Node.Name != "test2" {
		t.Fatal("new configuration not applied")
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, `node="test2"`) || strings.Contains(m, `node="test1"`) {
		t.Errorf("anydiag_build_info does not follow the reloaded node:\n%s", grepLines(m, "anydiag_build_info"))
	}
	waitFor(t, "collectors to run after reload", func() bool {
		return strings.Contains(get(t, base+"/metrics"), "anydiag_thermal_sensor_celsius")
	})
}

// A reload that changes only the host collectors keeps the speaker and the
// policy: no withdrawal, no re-announcement, the announcement never drops.
func TestReloadKeepsSpeakerAndPolicy(t *testing.T) {
	sys := fixtureSys(t)
	speaker := `speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
policy: {interval: 20ms}
`
	cfg := strings.ReplaceAll(baseConfig, "%s", sys) + speaker
	a, base, stop := startAgent(t, cfg)
	defer stop()
	// The neighbor never connects, so anydiag_policy_announced (which asks
	// the speaker) stays 0; the policy's own decision is what counts here.
	announced := `anydiag_policy_decisions_total{prefix="192.0.2.1/32",action="announce",outcome="applied"} 1`
	waitFor(t, "the prefix announced", func() bool { return strings.Contains(get(t, base+"/metrics"), announced) })
	audit := get(t, base+"/api/v1/policy/audit")

	changed := strings.Replace(cfg, "interval: 50ms", "interval: 70ms", 1)
	if err := os.WriteFile(a.opts.ConfigPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "collectors after reload", func() bool {
		return strings.Contains(get(t, base+"/api/v1/status"), `"interval": "70ms"`)
	})
	if !strings.Contains(get(t, base+"/metrics"), announced) {
		t.Fatal("the prefix is no longer announced after a reload of the host collectors")
	}
	if after := get(t, base+"/api/v1/policy/audit"); after != audit {
		t.Fatalf("the reload made policy decisions:\nbefore %s\nafter %s", audit, after)
	}
}

// Health checks run, export their metrics and raise findings without a
// speaker: a PoP may watch its service before it announces anything.
func TestHealthChecksRunWithoutSpeaker(t *testing.T) {
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := svc.Addr().String()
	go func() {
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg := fmt.Sprintf(`node: {name: test1}
anycast: {prefixes: [192.0.2.1/32]}
health:
  checks:
    - {name: svc, type: tcp, address: "%s", interval: 20ms, timeout: 20ms, rise: 1, fall: 1}
`, addr)
	_, base, stop := startAgent(t, cfg)
	defer stop()
	waitFor(t, "the check up in /metrics", func() bool {
		return strings.Contains(get(t, base+"/metrics"), `anydiag_health_check_up{check="svc",type="tcp"} 1`)
	})
	svc.Close()
	waitFor(t, "a health.check_failing finding", func() bool {
		return strings.Contains(get(t, base+"/api/v1/findings"), `"health.check_failing"`)
	})
	if m := get(t, base+"/metrics"); !strings.Contains(m, `anydiag_health_check_up{check="svc",type="tcp"} 0`) {
		t.Errorf("the check is not down in /metrics:\n%s", grepLines(m, "anydiag_health"))
	}
}

// The hold-down ends at its deadline, not at a tick: with policy.interval
// at one hour, the re-announcement after the hold-down can only come from
// the timer the loop sets at the engine's NextDeadline.
func TestPolicyActsAtTheEnginesDeadline(t *testing.T) {
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := svc.Addr().String()
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(svc)
	cfg := fmt.Sprintf(`node: {name: test1}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
health:
  checks:
    - {name: svc, type: tcp, address: "%s", interval: 20ms, timeout: 20ms, rise: 1, fall: 1}
policy:
  interval: 1h
  hold_down: 300ms
  rules:
    - {when: {check: svc, state: down}, action: withdraw}
`, addr)
	_, base, stop := startAgent(t, cfg)
	defer stop()
	decisions := func(action string) string {
		return fmt.Sprintf(`anydiag_policy_decisions_total{prefix="192.0.2.1/32",action=%q,outcome="applied"}`, action)
	}
	waitFor(t, "the first announcement", func() bool { return strings.Contains(get(t, base+"/metrics"), decisions("announce")+" 1") })
	svc.Close()
	waitFor(t, "the withdrawal", func() bool { return strings.Contains(get(t, base+"/metrics"), decisions("withdraw")+" 1") })
	svc, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	go serve(svc)
	waitFor(t, "the re-announcement after the hold-down", func() bool {
		return strings.Contains(get(t, base+"/metrics"), decisions("announce")+" 2")
	})
	m := get(t, base+"/metrics")
	if !strings.Contains(m, `anydiag_policy_evaluations_total{trigger="deadline"}`) || strings.Contains(m, `trigger="interval"`) {
		t.Errorf("the re-announcement did not come from the deadline timer:\n%s", grepLines(m, "anydiag_policy_evaluations_total"))
	}
}
