package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/lab/labtest"
)

// benchEnv gates the long withdrawal-time distributions against FRR.
const benchEnv = "ANYDIAG_AGENT_BENCH"

const (
	labUp      = "198.51.100.1"
	labPop     = "198.51.100.2"
	labPrefix  = "192.0.2.1/32"
	labService = "127.0.0.1:8081"
)

// labFRR streams BMP (adjacency-in, pre-policy) to a station of the test
// in the same namespace: the Route Monitoring message of the withdrawal
// times the moment FRR received it, without polling.
const labFRR = `hostname up
router bgp 65001
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 198.51.100.2 remote-as 65010
 neighbor 198.51.100.2 timers connect 1
 neighbor 198.51.100.2 advertisement-interval 0
 address-family ipv4 unicast
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.2 soft-reconfiguration inbound
 exit-address-family
 bmp targets test
  bmp connect 127.0.0.1 port %d min-retry 100 max-retry 500
  bmp monitor ipv4 unicast pre-policy
 exit
`

const labAgent = `node: {name: pop, site: lab, continent: EU}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp:
    asn: 65010
    router_id: 192.0.2.10
    listen_port: -1
    neighbors: [{address: 198.51.100.1, asn: 65001, connect_retry: 1s, families: [ipv4-unicast]}]
health:
  checks:
    - {name: svc, type: tcp, address: "127.0.0.1:8081", interval: %[1]s, timeout: %[1]s, rise: 1, fall: %[2]d}
policy:
  interval: %[3]s
  max_withdrawals_per_hour: 0
  audit_file: %[4]s
  rules:
    - {when: {check: svc, state: down}, action: withdraw}
`

// labPoP is an agent child in the PoP namespace of a lab whose upstream is
// a real FRR bgpd, and the service its health check probes.
type labPoP struct {
	lab    *lab.Lab
	pop    *lab.Node
	frr    *lab.FRR
	agent  *lab.Process
	client *http.Client
	audit  string
	svc    net.Listener
	// lastPoll is how long the last vtysh poll took.
	lastPoll time.Duration
	// events are FRR's BMP events.
	events <-chan bmp.Event
}

// bmpWithdrawn waits for FRR's BMP report of the withdrawal of the prefix
// and returns when the station read it.
func (p *labPoP) bmpWithdrawn(ctx context.Context) (time.Time, error) {
	want := netip.MustParsePrefix(labPrefix)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case ev := <-p.events:
			if ev.Kind == bmp.RouteWithdrawn && ev.Prefix == want {
				return ev.Arrival, nil
			}
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no BMP withdrawal of %s from FRR: %w", labPrefix, ctx.Err())
		}
	}
}

// drainEvents forgets the BMP events seen so far.
func (p *labPoP) drainEvents() {
	for {
		select {
		case <-p.events:
		default:
			return
		}
	}
}

func startLabPoP(t *testing.T, ctx context.Context, checkInterval string, fall int, policyInterval string) *labPoP {
	t.Helper()
	// Made before the lab, so removed after the agent has stopped writing.
	dir := t.TempDir()
	p := startLab(t, ctx)
	p.audit = filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, labAgent, checkInterval, fall, policyInterval, p.audit), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	var err error
	p.agent, err = p.pop.Start(ctx, "agent", []string{os.Args[0]},
		lab.StartOptions{Env: []string{childEnv + "=" + cfg, childSockEnv + "=" + sock}, StopTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p.client = unixClient(sock)
	if err := p.waitHeld(ctx, true, 60*time.Second); err != nil {
		t.Fatalf("the agent never announced %s: %v\nagent log:\n%s\nbgpd log:\n%s", labPrefix, err, p.agent.LogTail(), p.frr.Process().LogTail())
	}
	return p
}

// startLab builds the PoP and its upstream FRR, and starts the service.
func startLab(t *testing.T, ctx context.Context) *labPoP {
	t.Helper()
	l := labtest.Up(t, ctx, &lab.Topology{
		Name:  "agent",
		Nodes: []lab.Node{{Name: "pop"}, {Name: "up"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Node: "up", Addrs: []string{labUp + "/24"}},
			B: lab.Endpoint{Node: "pop", Addrs: []string{labPop + "/24"}},
		}},
	})
	st, err := bmp.New(bmp.Config{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	bln, err := l.Node("up").Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := st.Subscribe(1 << 16)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); st.Serve(sctx, bln) }()
	t.Cleanup(func() { stop(); unsubscribe(); <-done })
	frr, err := l.Node("up").StartFRR(ctx, fmt.Sprintf(labFRR, bln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	p := &labPoP{lab: l, pop: l.Node("pop"), frr: frr, events: events}
	p.serviceUp(t)
	return p
}

// serviceUp starts the service the health check probes, in the PoP.
func (p *labPoP) serviceUp(t *testing.T) {
	t.Helper()
	ln, err := p.pop.Listen("tcp", labService)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p.svc = ln
}

// held reports whether FRR holds the anycast prefix.
func (p *labPoP) held(ctx context.Context) (bool, error) {
	var r struct {
		Prefix string            `json:"prefix"`
		Paths  []json.RawMessage `json:"paths"`
	}
	if err := p.frr.VtyshJSON(ctx, "show bgp ipv4 unicast "+labPrefix+" json", &r); err != nil {
		return false, err
	}
	return r.Prefix == labPrefix && len(r.Paths) > 0, nil
}

func (p *labPoP) waitHeld(ctx context.Context, want bool, timeout time.Duration) error {
	return lab.WaitFor(ctx, timeout, 5*time.Millisecond, func() (bool, error) {
		start := time.Now()
		h, err := p.held(ctx)
		p.lastPoll = time.Since(start)
		if err != nil {
			return false, err
		}
		return h == want, fmt.Errorf("FRR holds %s: %t, want %t", labPrefix, h, want)
	})
}

// auditDecisions reads the agent's audit file.
func (p *labPoP) auditDecisions(t *testing.T) []policy.Decision {
	t.Helper()
	f, err := os.Open(p.audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []policy.Decision
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d struct {
			policy.Decision
			RetryAfter any `json:"retry_after_seconds"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, d.Decision)
	}
	return out
}

func (p *labPoP) findings(t *testing.T) []finding.Finding {
	t.Helper()
	resp, err := p.client.Get("http://agent/api/v1/findings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var fs []finding.Finding
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatalf("findings %s: %v", b, err)
	}
	return fs
}

// The policy acts on the health transition itself: with policy.interval
// at one hour its tick can never be what withdraws, so the route leaving
// FRR shows that the failing probe woke the policy. The audit's withdrawal
// comes after the check went down and is the rule on that check.
func TestLabWithdrawOnHealthTransition(t *testing.T) {
	labtest.NeedFRR(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	p := startLabPoP(t, ctx, "100ms", 1, "1h")

	p.svc.Close()
	if err := p.waitHeld(ctx, false, 30*time.Second); err != nil {
		t.Fatalf("the route stayed at the upstream after the service died: %v\nagent log:\n%s", err, p.agent.LogTail())
	}
	var down time.Time
	for _, f := range p.findings(t) {
		if f.Code == "health.check_failing" && f.Subject == "check svc" {
			down = f.Since
		}
	}
	if down.IsZero() {
		t.Fatal("no health.check_failing finding for the dead service")
	}
	ds := p.auditDecisions(t)
	i := slices.IndexFunc(ds, func(d policy.Decision) bool {
		return d.Action == policy.ActionWithdraw && d.Outcome == policy.OutcomeApplied
	})
	if i < 0 {
		t.Fatalf("no applied withdrawal in the audit: %+v", ds)
	}
	w := ds[i]
	if w.Source != policy.SourceRule || !strings.Contains(fmt.Sprint(w.Reason, w.Evidence), "svc") {
		t.Errorf("the withdrawal is not the rule on check svc: %+v", w)
	}
	if w.Time.Before(down) {
		t.Errorf("withdrawal at %v precedes the check going down at %v", w.Time, down)
	}
	// Before this change the withdrawal waited for the policy's tick, an
	// hour here: a withdrawal within the interval is caused by the event.
	if w.Time.Sub(down) >= time.Hour {
		t.Errorf("withdrawal %v after the check went down: it waited for the tick", w.Time.Sub(down))
	}

	resp, err := p.client.Get("http://agent/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(m), `anydiag_policy_evaluations_total{trigger="interval"}`) ||
		!strings.Contains(string(m), `anydiag_policy_evaluations_total{trigger="event"}`) {
		t.Errorf("evaluations were not driven by the event:\n%s", grepLines(string(m), "anydiag_policy_evaluations_total"))
	}

	// The service comes back: the check's transition to up announces again,
	// still without a tick.
	p.serviceUp(t)
	if err := p.waitHeld(ctx, true, 30*time.Second); err != nil {
		t.Fatalf("not re-announced after the service came back: %v\nagent log:\n%s", err, p.agent.LogTail())
	}
}

// TestLabWithdrawalTiming measures, against a real FRR upstream, the time
// from the service dying (its listener closed) to FRR no longer holding the
// route, at (check interval 1s, fall 1) and (100ms, fall 2), for the agent
// and for ExaBGP's healthcheck at the same settings. It logs the
// distributions and asserts nothing about time; set ANYDIAG_AGENT_BENCH=1.
// Target: p99 <= fall x interval + 100ms.
func TestLabWithdrawalTiming(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("set " + benchEnv + "=1 to measure")
	}
	labtest.NeedFRR(t)
	runs := 25
	for _, c := range []struct {
		interval string
		fall     int
	}{{"1s", 1}, {"100ms", 2}} {
		iv, _ := time.ParseDuration(c.interval)
		t.Run(fmt.Sprintf("anydiag/interval=%s,fall=%d", c.interval, c.fall), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			p := startLabPoP(t, ctx, c.interval, c.fall, "1s")
			p.timeWithdrawals(t, ctx, "anydiag agent (embedded GoBGP)", iv, c.fall, runs, true)
		})
		t.Run(fmt.Sprintf("exabgp/interval=%s,fall=%d", c.interval, c.fall), func(t *testing.T) {
			if _, err := exec.LookPath("exabgp"); err != nil {
				t.Skip("exabgp not installed (Debian package exabgp)")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			p := startLab(t, ctx)
			p.startExaBGP(t, ctx, iv, c.fall)
			p.timeWithdrawals(t, ctx, "ExaBGP 4.2 healthcheck", iv, c.fall, runs, false)
		})
	}
}

// startExaBGP runs ExaBGP with its healthcheck in the PoP, probing the
// same service at the same interval, rise 1 and fall, withdrawing on down.
func (p *labPoP) startExaBGP(t *testing.T, ctx context.Context, interval time.Duration, fall int) {
	t.Helper()
	// The subtest's TempDir has a comma in its name, which ExaBGP's
	// configuration parser splits on.
	dir := p.lab.TempDir()
	// The same probe as the agent's tcp check: a TCP connection opens.
	script := filepath.Join(dir, "check")
	if err := os.WriteFile(script, []byte("#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/8081\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	check := "/usr/bin/python3 -m exabgp healthcheck --no-syslog --no-ip-setup --withdraw-on-down" +
		fmt.Sprintf(" --interval %g --fast-interval %g --timeout 1 --rise 1 --fall %d", interval.Seconds(), interval.Seconds(), fall) +
		" --ip " + labPrefix + " --next-hop " + labPop + " --cmd " + script
	conf := fmt.Sprintf(`process svc {
	run %s;
	encoder text;
}
neighbor %s {
	router-id 192.0.2.10;
	local-address %s;
	local-as 65010;
	peer-as 65001;
	api { processes [ svc ]; }
}
`, check, labUp, labPop)
	path := filepath.Join(dir, "exabgp.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	proc, err := p.pop.Start(ctx, "exabgp", []string{"env", "exabgp.daemon.user=root", "exabgp.daemon.daemonize=false",
		"exabgp.log.destination=stdout", "/usr/sbin/exabgp", path}, lab.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.waitHeld(ctx, true, 60*time.Second); err != nil {
		t.Fatalf("ExaBGP never announced %s: %v\nexabgp log:\n%s", labPrefix, err, proc.LogTail())
	}
}

// timeWithdrawals kills and restores the service runs times and logs how
// long FRR kept the route; with decisions, also where the agent's time went.
func (p *labPoP) timeWithdrawals(t *testing.T, ctx context.Context, name string, iv time.Duration, fall, runs int, decisions bool) {
	t.Helper()
	// atFRR: service killed to FRR's BMP Route Monitoring of the
	// withdrawal (FRR received the UPDATE); gone: service killed to vtysh
	// showing the route gone; poll: how long that vtysh poll took (its
	// resolution); probe: the failing probe that made the check down to
	// the withdrawal's decision; upstream: the decision to FRR's BMP
	// report (speaker, UPDATE, FRR).
	var atFRR, gone, probe, upstream, poll []time.Duration
	for i := range runs {
		// The kill falls at a random phase of the probe schedule, as a
		// real failure does (the route came back right after a probe).
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(iv)))):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		p.drainEvents()
		start := time.Now()
		p.svc.Close()
		end, err := p.bmpWithdrawn(ctx)
		if err != nil {
			out, _ := p.frr.Vtysh(ctx, "show bmp")
			held, herr := p.held(ctx)
			t.Fatalf("run %d: %v\n%s\nFRR holds the route: %t %v", i, err, out, held, herr)
		}
		atFRR = append(atFRR, end.Sub(start))
		if err := p.waitHeld(ctx, false, 30*time.Second); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		gone = append(gone, time.Since(start))
		poll = append(poll, p.lastPoll)
		if decisions {
			var down time.Time
			for _, f := range p.findings(t) {
				if f.Code == "health.check_failing" {
					down = f.Since
				}
			}
			ds := p.auditDecisions(t)
			for j := len(ds) - 1; j >= 0; j-- {
				if ds[j].Action == policy.ActionWithdraw && ds[j].Outcome == policy.OutcomeApplied {
					if !down.IsZero() {
						probe = append(probe, ds[j].Time.Sub(down))
					}
					upstream = append(upstream, end.Sub(ds[j].Time))
					break
				}
			}
		}
		p.serviceUp(t)
		if err := p.waitHeld(ctx, true, 30*time.Second); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	for _, d := range [][]time.Duration{atFRR, gone, probe, upstream, poll} {
		slices.Sort(d)
	}
	msg := fmt.Sprintf("%s, check interval %v fall %d, %d runs; target p99 <= %v\n"+
		"  service killed -> FRR received the withdrawal (its BMP Route Monitoring): %s\n"+
		"  service killed -> vtysh shows %s gone: %s (the vtysh poll itself took %s)",
		name, iv, fall, runs, time.Duration(fall)*iv+100*time.Millisecond, dist(atFRR), labPrefix, dist(gone), dist(poll))
	if decisions {
		msg += "\n  failing probe (check down) -> withdrawal decided: " + dist(probe) +
			"\n  withdrawal decided -> FRR received it (BMP): " + dist(upstream)
	}
	t.Log(msg)
}

func dist(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n %d min %v p50 %v p90 %v p99 %v max %v", len(ds), ds[0].Round(time.Millisecond),
		quantile(ds, 0.5), quantile(ds, 0.9), quantile(ds, 0.99), ds[len(ds)-1].Round(time.Millisecond))
}

// quantile is the nearest-rank q-quantile of sorted ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)].Round(time.Millisecond)
}
