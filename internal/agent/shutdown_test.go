package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/internal/gobgptest"
	api "github.com/osrg/gobgp/v3/api"
)

// At shutdown the fleet guard counts this node's own route through the
// agent's in-agent BMP station, which must still be running: it sees one
// PoP (this one), refuses the withdrawal (min_announcing 1), and the audit
// says so. Stopping the embedded speaker then takes the route away anyway,
// and the audit says that too, instead of pretending the route stayed.
func TestShutdownDecidesWithItsInputsAliveAndAuditsTheSpeakerStop(t *testing.T) {
	peer := startGoBGP(t, 65001, "127.0.0.5")
	peer.Await(t, "127.0.0.4", 64500, gobgptest.PeerOptions{})
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bmpPort := freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf(`node: {name: pop1}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp:
    asn: 64500
    router_id: 192.0.2.9
    listen_port: -1
    local_address: 127.0.0.4
    neighbors: [{address: 127.0.0.5, port: %d, asn: 65001, connect_retry: 1s, families: [ipv4-unicast]}]
policy:
  interval: 50ms
  audit_file: %s
  fleet_guard: {min_announcing: 1, source: bmp, url: "http://%s"}
collectors:
  bmp: {enabled: true, listen: "127.0.0.1:%d"}
`, peer.Port, audit, ln.Addr(), bmpPort)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{ConfigPath: path, Version: "test", Log: quietLog(), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + ln.Addr().String()
	if err := peer.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_PRE, SysName: "upstream"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "this node's route in its own BMP station", func() bool {
		return strings.Contains(get(t, base+"/api/v1/bmp/routes?prefix=192.0.2.1/32"), "192.0.2.1/32")
	})
	if !peerHas(t, peer, "192.0.2.1/32") {
		t.Fatal("the upstream does not hold the route")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
	done <- nil

	var refused, stopped *policy.Decision
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var d struct {
			policy.Decision
			RetryAfter any `json:"retry_after_seconds"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if d.Source != policy.SourceShutdown {
			continue
		}
		switch {
		case d.Outcome == policy.OutcomeRefused && d.Guard == policy.GuardFleet:
			refused = &d.Decision
		case d.Outcome == policy.OutcomeApplied && d.Action == policy.ActionWithdraw:
			stopped = &d.Decision
		}
	}
	audited := strings.Join(lines, "\n")
	if refused == nil {
		t.Fatalf("no fleet-guard refusal of the shutdown withdrawal in the audit:\n%s", audited)
	}
	if n, _ := refused.Evidence["announcing"].(float64); n != 1 {
		t.Errorf("the fleet guard did not count this node through the running station (evidence %v):\n%s", refused.Evidence, audited)
	}
	if stopped == nil || !strings.Contains(stopped.Reason, "speaker stopped") {
		t.Fatalf("the audit does not say that stopping the speaker withdrew the route:\n%s", audited)
	}
	if peerHas(t, peer, "192.0.2.1/32") {
		t.Error("the upstream still holds the route after the agent stopped")
	}
}
