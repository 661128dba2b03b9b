package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/anydiag/anydiag/internal/gobgptest"
	"github.com/anydiag/anydiag/lab"
)

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

const reloadConfig = `node: {name: test1, site: lab, continent: EU}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp:
    asn: 64500
    router_id: 192.0.2.9
    listen_port: -1
    local_address: 127.0.0.4
    neighbors: [{address: 127.0.0.5, port: %[1]d, asn: 65001, connect_retry: 1s, families: [ipv4-unicast]}]
policy:
  interval: 50ms
  hold_down: %[2]s
exporters:
  token_file: %[3]s
collectors:
  bmp: {enabled: true, listen: "127.0.0.1:%[4]d"}
`

// A reload that changes only the policy keeps the BGP session (a real
// GoBGP peer sees no new Established), the BMP station with its routes and
// flap history, and the node's announcement.
func TestReloadOfPolicyKeepsSessionStationAndFlaps(t *testing.T) {
	peer := startGoBGP(t, 65001, "127.0.0.5")
	peer.Await(t, "127.0.0.4", 64500, gobgptest.PeerOptions{})
	dir := t.TempDir()
	token := "reload-test-token-0123456789"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	bmpPort := freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf(reloadConfig, peer.Port, "0s", tokenFile, bmpPort)
	a, base, stop := startAgent(t, cfg)
	defer stop()
	if err := peer.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_PRE, SysName: "upstream"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent's route in its own BMP station", func() bool {
		return strings.Contains(get(t, base+"/api/v1/bmp/routes?prefix=192.0.2.1/32"), "192.0.2.1/32")
	})
	// A flap the station sees: withdrawn and announced again by hand.
	for _, op := range []string{"withdraw", "announce"} {
		if code, body := post(t, base+"/api/v1/control/"+op, token, `{"prefix":"192.0.2.1/32","reason":"test"}`); code != 200 {
			t.Fatalf("%s: %d %s", op, code, body)
		}
	}
	waitFor(t, "the flap in the flap history", func() bool {
		return strings.Contains(get(t, base+"/api/v1/flaps"), "192.0.2.1/32")
	})
	waitFor(t, "the route back in the station", func() bool {
		return strings.Contains(get(t, base+"/api/v1/bmp/routes?prefix=192.0.2.1/32"), "192.0.2.1/32")
	})
	up := peer.Uptime(t, "127.0.0.4")
	if up.IsZero() {
		t.Fatal("the GoBGP peer has no Established session with the agent")
	}
	peersBefore := get(t, base+"/api/v1/bmp/peers")
	flapsBefore := flapEntries(t, get(t, base+"/api/v1/flaps"))

	if err := os.WriteFile(a.opts.ConfigPath, fmt.Appendf(nil, reloadConfig, peer.Port, "2s", tokenFile, bmpPort), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := peer.Uptime(t, "127.0.0.4"); !got.Equal(up) {
		t.Errorf("the BGP session bounced on a policy reload: Established at %v, now %v", up, got)
	}
	if got := get(t, base+"/api/v1/bmp/peers"); got != peersBefore {
		t.Errorf("the BMP station was rebuilt:\nbefore %s\nafter %s", peersBefore, got)
	}
	if !strings.Contains(get(t, base+"/api/v1/bmp/routes?prefix=192.0.2.1/32"), "192.0.2.1/32") {
		t.Error("the station lost its routes on a policy reload")
	}
	if got := flapEntries(t, get(t, base+"/api/v1/flaps")); got < flapsBefore || flapsBefore == 0 {
		t.Errorf("flap history: %d entries before the reload, %d after", flapsBefore, got)
	}
	if !strings.Contains(get(t, base+"/api/v1/policy/explain"), "192.0.2.1/32") {
		t.Error("the new policy does not manage the prefix")
	}

	// An operator's withdraw survives a reload that changes the policy: the
	// new engine starts from the old one's state.
	if code, body := post(t, base+"/api/v1/control/withdraw", token, `{"prefix":"192.0.2.1/32","reason":"maintenance"}`); code != 200 {
		t.Fatalf("withdraw: %d %s", code, body)
	}
	waitFor(t, "the route gone from the upstream", func() bool { return peerHas(t, peer, "192.0.2.1/32") == false })
	if err := os.WriteFile(a.opts.ConfigPath, fmt.Appendf(nil, reloadConfig, peer.Port, "3s", tokenFile, bmpPort), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex := get(t, base+"/api/v1/policy/explain")
	if !strings.Contains(ex, "manual") || !strings.Contains(ex, "maintenance") {
		t.Errorf("the manual hold was lost by the reload:\n%s", ex)
	}
	// Evaluations after the reload must keep it withdrawn.
	evals := func() string { return grepLines(get(t, base+"/metrics"), "anydiag_policy_evaluations_total") }
	before := evals()
	waitFor(t, "policy evaluations after the reload", func() bool { return evals() != before })
	if peerHas(t, peer, "192.0.2.1/32") {
		t.Error("the reload re-announced a prefix the operator withdrew")
	}
	if got := peer.Uptime(t, "127.0.0.4"); !got.Equal(up) {
		t.Errorf("the BGP session bounced on the second policy reload")
	}
}

// peerHas reports whether the GoBGP peer holds prefix in its Adj-RIB-In.
func peerHas(t *testing.T, g *gobgpd, prefix string) bool {
	t.Helper()
	found := false
	err := g.S.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL,
		Family:   &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		Prefixes: []*api.TableLookupPrefix{{Prefix: prefix}}}, func(d *api.Destination) {
		found = found || len(d.Paths) > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func flapEntries(t *testing.T, body string) int {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("flaps %s: %v", body, err)
	}
	return strings.Count(body, "192.0.2.1/32")
}

// Reloads never leak: 20 reloads that change the policy and 20 that change
// the speaker leave the goroutine count where it was, give or take a few.
func TestReloadsDoNotLeakGoroutines(t *testing.T) {
	sys := fixtureSys(t)
	const cfg = `node: {name: test1, site: lab, continent: EU}
anycast: {prefixes: [192.0.2.1/32]}
collectors:
  thermal: {enabled: true, interval: 50ms, sysfs_root: %s}
speaker:
  gobgp: {asn: 64500, router_id: %s, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
policy: {interval: 20ms, hold_down: %s}
`
	a, base, stop := startAgent(t, fmt.Sprintf(cfg, sys, "192.0.2.9", "1s"))
	defer stop()
	reload := func(routerID, holdDown string) {
		t.Helper()
		if err := os.WriteFile(a.opts.ConfigPath, fmt.Appendf(nil, cfg, sys, routerID, holdDown), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	settle := func(what string, base int) {
		t.Helper()
		err := lab.WaitFor(context.Background(), 10*time.Second, 10*time.Millisecond, func() (bool, error) {
			return runtime.NumGoroutine() <= base+8, nil
		})
		if err != nil {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d before: %v\n%s", what, runtime.NumGoroutine(), base, err, buf[:runtime.Stack(buf, true)])
		}
	}
	// One reload of each kind first, so lazily started goroutines (HTTP
	// keep-alives, GoBGP's first server) are in the baseline.
	reload("192.0.2.9", "2s")
	reload("192.0.2.8", "2s")
	get(t, base+"/metrics")
	start := runtime.NumGoroutine()
	for i := range 20 {
		reload("192.0.2.8", fmt.Sprintf("%ds", 3+i%2))
	}
	settle("20 policy reloads", start)
	for i := range 20 {
		reload(fmt.Sprintf("192.0.2.%d", 10+i%2), "3s")
	}
	settle("20 speaker reloads", start)
}

// A reload that changes exporters.listen moves the HTTP server: the new
// port answers, the old one refuses. A reload to a taken port is rejected
// with nothing changed: the old port still answers, the old config stays.
func TestReloadMovesListener(t *testing.T) {
	sys := fixtureSys(t)
	conf := func(port int) string {
		return strings.ReplaceAll(baseConfig, "%s", sys) + fmt.Sprintf("exporters: {listen: \"127.0.0.1:%d\"}\n", port)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	write := func(port int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(conf(port)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p1 := freePort(t, "127.0.0.1")
	write(p1)
	a, err := New(Options{ConfigPath: path, Version: "test", Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent stopped with %v", err)
		}
	}()
	url := func(p int) string { return fmt.Sprintf("http://127.0.0.1:%d/healthz", p) }
	answers := func(p int) bool {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url(p))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	waitFor(t, "the first port to answer", func() bool { return answers(p1) })

	p2 := freePort(t, "127.0.0.1")
	write(p2)
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !answers(p2) {
		t.Fatalf("new port %d does not answer /healthz after the reload", p2)
	}
	// Shutdown of the old server runs beside the new one; poll until closed.
	waitFor(t, "the old port to refuse", func() bool { return !answers(p1) })
	if got := a.Addr().String(); got != fmt.Sprintf("127.0.0.1:%d", p2) {
		t.Errorf("Addr() = %s after the move", got)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	write(taken.Addr().(*net.TCPAddr).Port)
	err = a.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload to a taken port: %v", err)
	}
	if !answers(p2) {
		t.Fatal("the listener in force stopped answering after a rejected reload")
	}
	if got := a.Config().Exporters.Listen.String(); got != fmt.Sprintf("127.0.0.1:%d", p2) {
		t.Errorf("config in force listens on %s after a rejected reload", got)
	}
	m := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", p2))
	if !strings.Contains(m, `anydiag_config_reloads_total{result="rejected"} 1`) || !strings.Contains(m, `anydiag_config_reloads_total{result="applied"} 1`) {
		t.Fatalf("reload counters:\n%s", grepLines(m, "anydiag_config_reloads_total"))
	}
}
