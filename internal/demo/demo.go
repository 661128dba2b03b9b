// Package demo is `anydiag demo` and `make demo`: it builds the anycast lab
// of anycast.yaml (three PoPs whose agents announce 192.0.2.1/32 with the
// embedded speaker, two FRR upstreams streaming BMP to a collector, clients
// behind them) and plays the scenarios of the mission one after another,
// checking each outcome on the upstream routers themselves. Every scenario
// that does not end as narrated is an error, so the demo doubles as the
// end-to-end test.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/httpjson"
	"github.com/anydiag/anydiag/internal/serve"
	"github.com/anydiag/anydiag/lab"
)

//go:embed anycast.yaml
var topologyYAML []byte

// VIP is the anycast service address every PoP announces.
const VIP = "192.0.2.1/32"

// Options configure a demo run.
type Options struct {
	// Out receives the narration.
	Out io.Writer
	// Binary is the anydiag executable the agents run (default: this one).
	Binary string
	// Log receives component logs.
	Log *slog.Logger
	// Stay keeps the lab up after the scenarios until ctx ends.
	Stay bool
}

type pop struct {
	name, addr, upstream string
	node                 *lab.Node
	svc                  *service
	agent                *lab.Process
	client               *http.Client
	eeprom               string
}

type run struct {
	o     Options
	lab   *lab.Lab
	pops  []*pop
	up    map[string]*lab.FRR
	start time.Time

	// cancel ends the collector; servers are the demo's own HTTP servers;
	// wg counts the goroutines serving both, which stop waits for before
	// the lab's namespaces go.
	cancel  context.CancelFunc
	servers []*http.Server
	wg      sync.WaitGroup
}

// Run builds the lab, plays the scenarios and tears everything down.
func Run(ctx context.Context, o Options) error {
	if os.Geteuid() != 0 {
		return errors.New("the demo builds network namespaces and needs root: run it with sudo (sudo make demo)")
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = exe
	}
	topo, err := lab.ParseBytes(topologyYAML)
	if err != nil {
		return err
	}
	r := &run{o: o, up: map[string]*lab.FRR{}, start: time.Now()}
	ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	r.say("Building the anycast lab: 3 PoPs (AS 64500), 2 FRR upstreams (AS 65001, 65002), a BMP collector, 2 clients")
	l, err := lab.Up(ctx, topo, lab.Options{Logger: o.Log})
	if err != nil {
		return err
	}
	r.lab = l
	stopSig := l.CloseOnSignal()
	defer func() {
		stopSig()
		r.stop()
		l.Close()
		r.say("Lab torn down: namespaces and processes removed")
	}()

	if err := r.startCollector(ctx); err != nil {
		return err
	}
	if err := r.startUpstreams(ctx); err != nil {
		return err
	}
	if err := r.startPoPs(ctx); err != nil {
		return err
	}
	for _, s := range []struct {
		title string
		f     func(context.Context) error
	}{
		{"1. A service fails: its PoP is withdrawn, then announced again after hold-down", r.scenarioFailAndRecover},
		{"2. A flapping service: self-dampening holds the re-announcement back", r.scenarioFlap},
		{"3. The fleet guard refuses to withdraw the last announcing PoP", r.scenarioFleetGuard},
		{"4. An optic's receive power falls below its alarm threshold", r.scenarioOptics},
	} {
		r.say("")
		r.say("== %s", s.title)
		if err := s.f(ctx); err != nil {
			return fmt.Errorf("scenario %q: %w", s.title, err)
		}
	}
	r.say("")
	r.say("All scenarios ended as expected.")
	r.where()
	if o.Stay {
		r.say("The lab stays up until Ctrl-C.")
		<-ctx.Done()
	}
	return nil
}

// serve serves h on ln in a goroutine that stop waits for.
func (r *run) serve(ln net.Listener, h http.Handler) {
	srv := serve.New(h, serve.Limits{})
	r.servers = append(r.servers, srv)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := srv.Serve(serve.Listen(ln, serve.Limits{})); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.o.Log.Error("demo: serving", "addr", ln.Addr(), "err", err)
		}
	}()
}

// stop ends the collector and the demo's servers and waits for their
// goroutines, so none outlives the namespaces they listen in.
func (r *run) stop() {
	r.cancel()
	for _, s := range r.servers {
		s.Close()
	}
	r.wg.Wait()
}

func (r *run) say(format string, a ...any) {
	if format == "" {
		fmt.Fprintln(r.o.Out)
		return
	}
	fmt.Fprintf(r.o.Out, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, a...))
}

// startCollector runs the BMP station inside the noc node: routers stream
// to port 11019, and its API (used by the agents' fleet guard) is on 8080.
func (r *run) startCollector(ctx context.Context) error {
	noc := r.lab.Node("noc")
	st, err := bmp.New(bmp.Config{Logger: r.o.Log})
	if err != nil {
		return err
	}
	bln, err := noc.Listen("tcp", "0.0.0.0:11019")
	if err != nil {
		return err
	}
	hln, err := noc.Listen("tcp", "0.0.0.0:8080")
	if err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := st.Serve(ctx, bln); err != nil && ctx.Err() == nil {
			r.o.Log.Error("demo: BMP collector", "err", err)
		}
	}()
	r.serve(hln, st.Handler())
	r.say("BMP collector listening in noc on 198.51.100.17:11019 and .21:11019, API on :8080")
	return nil
}

const frrTemplate = `frr defaults datacenter
hostname %[1]s
router bgp %[2]d
 bgp router-id %[3]s
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 1 3
%[4]s address-family ipv4 unicast
%[5]s exit-address-family
 bmp targets collector
  bmp connect %[6]s port 11019 min-retry 100 max-retry 500
  bmp monitor ipv4 unicast pre-policy
  bmp monitor ipv4 unicast post-policy
 exit
!
`

func (r *run) startUpstreams(ctx context.Context) error {
	type nb struct {
		addr string
		asn  int
	}
	ups := []struct {
		name, id, bmp string
		asn           int
		nbs           []nb
	}{
		{"up1", "198.51.100.2", "198.51.100.17", 65001, []nb{{"198.51.100.1", 64500}, {"198.51.100.5", 64500}, {"198.51.100.14", 65002}}},
		{"up2", "198.51.100.10", "198.51.100.21", 65002, []nb{{"198.51.100.9", 64500}, {"198.51.100.13", 65001}}},
	}
	for _, u := range ups {
		var nbs, af strings.Builder
		for _, n := range u.nbs {
			fmt.Fprintf(&nbs, " neighbor %s remote-as %d\n neighbor %s timers connect 1\n", n.addr, n.asn, n.addr)
			fmt.Fprintf(&af, "  neighbor %s activate\n  neighbor %s soft-reconfiguration inbound\n", n.addr, n.addr)
		}
		node := r.lab.Node(u.name)
		conf := fmt.Sprintf(frrTemplate, u.name, u.asn, u.id, nbs.String(), af.String(), u.bmp)
		f, err := node.StartFRR(ctx, conf)
		if err != nil {
			return err
		}
		r.up[u.name] = f
	}
	r.say("FRR bgpd running on up1 (AS 65001) and up2 (AS 65002), streaming BMP to the collector")
	return nil
}

func (r *run) startPoPs(ctx context.Context) error {
	defs := []struct {
		name, addr, upstream, upAddr string
		upASN                        int
	}{
		{"pop1", "198.51.100.1", "up1", "198.51.100.2", 65001},
		{"pop2", "198.51.100.5", "up1", "198.51.100.6", 65001},
		{"pop3", "198.51.100.9", "up2", "198.51.100.10", 65002},
	}
	tokenFile := filepath.Join(r.lab.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(demoToken+"\n"), 0o600); err != nil {
		return err
	}
	for _, d := range defs {
		node := r.lab.Node(d.name)
		p := &pop{name: d.name, addr: d.addr, upstream: d.upstream, node: node, svc: &service{}}
		ln, err := node.Listen("tcp", "127.0.0.1:8081")
		if err != nil {
			return err
		}
		r.serve(ln, p.svc)
		p.eeprom = filepath.Join(r.lab.TempDir(), d.name+"-eth0.eeprom")
		if err := writeEEPROM(p.eeprom, -4); err != nil {
			return err
		}
		cfgPath := filepath.Join(r.lab.TempDir(), d.name+".yaml")
		cfg := fmt.Sprintf(agentTemplate, d.name, d.addr, d.upAddr, p.eeprom, tokenFile, r.lab.TempDir(), d.upASN)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return err
		}
		p.agent, err = node.Start(ctx, "agent", []string{r.o.Binary, "agent", "--config", cfgPath, "--log-level", "debug"}, lab.StartOptions{StopTimeout: 10 * time.Second})
		if err != nil {
			return err
		}
		p.client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return node.Dial(ctx, network, addr)
			},
		}}
		r.pops = append(r.pops, p)
	}
	r.say("anydiag agents started on pop1..pop3: embedded GoBGP speaker, HTTP health check (rise 2, fall 2, every 300ms), policy with hold-down 3s, Cisco self-dampening and a fleet guard of min_announcing 1")
	for _, p := range r.pops {
		if err := r.waitRoute(ctx, p, true, 60*time.Second); err != nil {
			return fmt.Errorf("%s never announced %s: %w\nagent log:\n%s", p.name, VIP, err, p.agent.LogTail())
		}
	}
	r.say("All three PoPs announce %s; up1 and up2 hold a path through each", VIP)
	return nil
}

// demoToken is the control API's token in the demo: at least 16 bytes, as
// the agent requires of every secret.
const demoToken = "demo-control-token-0123456789"

const agentTemplate = `node: {name: %[1]s, site: %[1]s, continent: EU}
anycast:
  interface: lo
  prefixes: [192.0.2.1/32]
speaker:
  gobgp:
    asn: 64500
    router_id: %[2]s
    listen_port: -1
    neighbors:
      - {address: %[3]s, asn: %[7]d, hold_time: 3s, connect_retry: 1s, families: [ipv4-unicast]}
health:
  checks:
    - {name: web, type: http, url: "http://127.0.0.1:8081/health", expect_status: 200, interval: 300ms, timeout: 250ms, rise: 2, fall: 2}
policy:
  interval: 200ms
  hold_down: 3s
  max_withdrawals_per_hour: 20
  audit_file: %[6]s/%[1]s-audit.jsonl
  self_dampening: {profile: cisco, max_fraction: 0.5}
  fleet_guard:
    min_announcing: 1
    source: bmp
    url: http://198.51.100.17:8080
    count_by: pop
    table: adj-rib-in-pre
    pops: {198.51.100.1: pop1, 198.51.100.5: pop2, 198.51.100.9: pop3}
  rules:
    - {when: {check: web, state: down}, action: withdraw}
collectors:
  optics: {enabled: true, interval: 500ms, eeprom_files: {eth0: %[4]s}}
exporters:
  listen: 127.0.0.1:9178
  token_file: %[5]s
`

// service is the PoP's application: healthy, failing, or answering 503.
type service struct{ failing atomic.Bool }

func (s *service) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if s.failing.Load() {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

func writeEEPROM(path string, rxDBm float64) error {
	img := eepromgen.SFP(eepromgen.SFPValues{Lane: eepromgen.LaneValues{RxPowerDBm: rxDBm, TxPowerDBm: -1.5, TxBiasMA: 32}})
	var b bytes.Buffer
	if err := eepromgen.WriteRaw(&b, img); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// holds reports whether the PoP's upstream holds a path to the VIP learnt
// from the PoP itself, as FRR's own RIB says.
func (r *run) holds(ctx context.Context, p *pop) (bool, error) {
	var v struct {
		Paths []struct {
			Peer struct {
				PeerID string `json:"peerId"`
			} `json:"peer"`
		} `json:"paths"`
	}
	if err := r.up[p.upstream].VtyshJSON(ctx, "show bgp ipv4 unicast "+VIP+" json", &v); err != nil {
		return false, err
	}
	for _, path := range v.Paths {
		if path.Peer.PeerID == p.addr {
			return true, nil
		}
	}
	return false, nil
}

func (r *run) waitRoute(ctx context.Context, p *pop, present bool, timeout time.Duration) error {
	return lab.WaitFor(ctx, timeout, 50*time.Millisecond, func() (bool, error) {
		ok, err := r.holds(ctx, p)
		return ok == present, err
	})
}

// findings asks a PoP's agent for its active findings.
func (r *run) findings(ctx context.Context, p *pop) ([]finding.Finding, error) {
	var fs []finding.Finding
	_, err := httpjson.Client{BaseURL: "http://127.0.0.1:9178", HTTP: p.client}.Get(ctx, "/api/v1/findings", nil, &fs)
	return fs, err
}

func (r *run) waitFinding(ctx context.Context, p *pop, code string, timeout time.Duration) (finding.Finding, error) {
	var got finding.Finding
	err := lab.WaitFor(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		fs, err := r.findings(ctx, p)
		if err != nil {
			return false, err
		}
		for _, f := range fs {
			if f.Code == code {
				got = f
				return true, nil
			}
		}
		return false, nil
	})
	return got, err
}

func (r *run) scenarioFailAndRecover(ctx context.Context) error {
	p := r.pops[0]
	r.say("pop1's service starts answering 503")
	t0 := time.Now()
	p.svc.failing.Store(true)
	if err := r.waitRoute(ctx, p, false, 20*time.Second); err != nil {
		return fmt.Errorf("up1 still holds pop1's path: %w", err)
	}
	withdrawn := time.Now()
	r.say("up1 no longer holds a path via pop1, %.2fs after the failure (fall 2 × 300ms + policy + BGP)", withdrawn.Sub(t0).Seconds())
	r.say("pop1's service is healthy again")
	t1 := time.Now()
	p.svc.failing.Store(false)
	if err := r.waitRoute(ctx, p, true, 30*time.Second); err != nil {
		return fmt.Errorf("pop1 was not announced again: %w", err)
	}
	// The hold-down runs from the withdrawal; allow for the withdrawal having
	// reached up1 a little later than it was decided.
	out := time.Since(withdrawn)
	if out < 2500*time.Millisecond {
		return fmt.Errorf("pop1 came back %.2fs after its withdrawal, before its 3s hold-down", out.Seconds())
	}
	r.say("up1 holds pop1's path again, %.2fs after recovery and %.2fs after the withdrawal (rise, then the 3s hold-down)", time.Since(t1).Seconds(), out.Seconds())
	return nil
}

func (r *run) scenarioFlap(ctx context.Context) error {
	p := r.pops[1]
	for i := 1; i <= 2; i++ {
		r.say("pop2's service fails (flap %d)", i)
		p.svc.failing.Store(true)
		if err := r.waitRoute(ctx, p, false, 20*time.Second); err != nil {
			return fmt.Errorf("flap %d: pop2 not withdrawn: %w", i, err)
		}
		r.say("pop2 withdrawn; its own RFC 2439 penalty grows by 1000")
		p.svc.failing.Store(false)
		if i == 1 {
			if err := r.waitRoute(ctx, p, true, 30*time.Second); err != nil {
				return fmt.Errorf("pop2 not announced after the first flap: %w", err)
			}
			r.say("service back: pop2 announced again (penalty 1000 ≤ half the Cisco suppress threshold 2000)")
		}
	}
	f, err := r.waitFinding(ctx, p, "policy.self_dampening", 20*time.Second)
	if err != nil {
		return fmt.Errorf("no self-dampening finding on pop2: %w", err)
	}
	r.say("service back, but the agent holds the announcement: %s", f.Summary)
	if ok, err := r.holds(ctx, p); err != nil || ok {
		return fmt.Errorf("pop2 was re-announced despite self-dampening (holds=%v, err=%v)", ok, err)
	}
	r.say("up1 confirms: no path via pop2, so upstream dampening never gets a chance to suppress the prefix")
	return nil
}

func (r *run) scenarioFleetGuard(ctx context.Context) error {
	pop1, pop3 := r.pops[0], r.pops[2]
	r.say("pop2 is held back; now pop3's service fails too")
	pop3.svc.failing.Store(true)
	if err := r.waitRoute(ctx, pop3, false, 20*time.Second); err != nil {
		return fmt.Errorf("pop3 not withdrawn: %w", err)
	}
	r.say("pop3 withdrawn: pop1 is the last PoP announcing %s", VIP)
	r.say("pop1's service fails as well (a shared dependency failing everywhere?)")
	pop1.svc.failing.Store(true)
	f, err := r.waitFinding(ctx, pop1, "policy.fleet_guard", 20*time.Second)
	if err != nil {
		return fmt.Errorf("no fleet-guard finding on pop1: %w", err)
	}
	r.say("the fleet guard refuses: %s", f.Summary)
	if ok, err := r.holds(ctx, pop1); err != nil || !ok {
		return fmt.Errorf("the last PoP was withdrawn (holds=%v, err=%v)", ok, err)
	}
	r.say("up1 still holds pop1's path: the prefix stays reachable")
	pop1.svc.failing.Store(false)
	pop3.svc.failing.Store(false)
	return nil
}

func (r *run) scenarioOptics(ctx context.Context) error {
	p := r.pops[0]
	r.say("pop1's eth0 optic reads -4.0 dBm; its receive power now falls to -25 dBm (alarm threshold -20 dBm)")
	if err := writeEEPROM(p.eeprom, -25); err != nil {
		return err
	}
	f, err := r.waitFinding(ctx, p, "optics.rx_power_low", 10*time.Second)
	if err != nil {
		return fmt.Errorf("no optics finding on pop1: %w", err)
	}
	r.say("%s %s: %s", strings.ToUpper(f.Severity.String()), f.Code, f.Summary)
	r.say("advice: %s", f.Advice)
	return nil
}

func (r *run) where() {
	r.say("Where to look (each agent listens on 127.0.0.1:9178 inside its PoP's namespace):")
	for _, p := range r.pops {
		r.say("  ip netns exec %s curl -s 127.0.0.1:9178/metrics     (%s: also /api/v1/findings, /api/v1/status, /api/v1/policy/explain)", p.node.Namespace(), p.name)
	}
	r.say("  ip netns exec %s curl -s 127.0.0.1:8080/api/v1/bmp/peers   (the BMP collector)", r.lab.Node("noc").Namespace())
	r.say("  dashboards/grafana/*.json (import into Grafana), dashboards/rules/anydiag.yml (Prometheus alert rules)")
}
