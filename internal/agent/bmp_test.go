package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/gobgptest"
	api "github.com/osrg/gobgp/v3/api"
)

// gobgpd is an embedded GoBGP router on a loopback address.
type gobgpd = gobgptest.Router

func freePort(t *testing.T, addr string) int { return gobgptest.FreePort(t, addr) }

func startGoBGP(t *testing.T, asn uint32, addr string) *gobgpd { return gobgptest.Start(t, asn, addr) }

func TestAgentBMPSessionFindings(t *testing.T) {
	bmpPort := freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf("node: {name: rr}\nanycast: {prefixes: [192.0.2.1/32]}\ncollectors:\n  bmp: {enabled: true, listen: 127.0.0.1:%d}\n", bmpPort)
	_, base, stop := startAgent(t, cfg)
	defer stop()

	a := startGoBGP(t, 65001, "127.0.0.2")
	b := startGoBGP(t, 65002, "127.0.0.3")
	a.Peer(t, b, gobgptest.PeerOptions{Passive: true})
	b.Peer(t, a, gobgptest.PeerOptions{})
	if err := b.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_PRE, SysName: "router-b"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the monitored peer up in the agent's BMP API", func() bool {
		return strings.Contains(get(t, base+"/api/v1/bmp/peers"), `"state": "up"`) ||
			strings.Contains(get(t, base+"/api/v1/bmp/peers"), `"state":"up"`)
	})
	if err := a.S.DisablePeer(context.Background(), &api.DisablePeerRequest{Address: "127.0.0.3", Communication: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	var got finding.Finding
	waitFor(t, "a session finding for the Cease", func() bool {
		var fs []finding.Finding
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/findings")), &fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if strings.HasPrefix(f.Code, "bgp.") && strings.Contains(f.Subject, "127.0.0.2") {
				got = f
				return true
			}
		}
		return false
	})
	if got.Code != "bgp.cease" || !strings.Contains(strings.ToLower(got.Summary), "shutdown") {
		t.Errorf("finding %s: %s", got.Code, got.Summary)
	}
	m := get(t, base+"/metrics")
	if !strings.Contains(m, `anydiag_bmp_peer_up{router="127.0.0.1",peer="127.0.0.2",peer_as="65001"} 0`) {
		t.Errorf("peer_up metric missing or wrong:\n%s", grepLines(m, "anydiag_bmp_peer_up"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The agent's collectors.bmp.limits and .flap reach its station and flap
// trackers: a router outside allow_routers is refused and becomes a
// bmp.limit_reached finding, and a custom damping profile is served.
// Without BMP the agent's 404s say which setting serves the paths.
func TestAgentBMPLimitsAndFlapConfig(t *testing.T) {
	bmpPort := freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf(`node: {name: rr}
anycast: {prefixes: [192.0.2.1/32]}
collectors:
  bmp:
    enabled: true
    listen: 127.0.0.1:%d
    limits: {allow_routers: [127.0.0.9/32], max_routers: 10}
    flap:
      custom_profiles:
        - {name: strict, withdrawal_penalty: 1000, readvertisement_penalty: 0, attribute_change_penalty: 500,
           suppress_threshold: 1500, reuse_threshold: 750, half_life: 15m, max_suppress: 60m}
`, bmpPort)
	_, base, stop := startAgent(t, cfg)
	defer stop()
	if body := get(t, base+"/api/v1/flaps?profile=strict"); !strings.Contains(body, `"suppress_threshold":1500`) {
		t.Fatalf("strict profile: %s", body)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", bmpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "a bmp.limit_reached finding for the refused router", func() bool {
		return strings.Contains(get(t, base+"/api/v1/findings"), `"bmp.limit_reached"`)
	})
	if m := get(t, base+"/metrics"); !strings.Contains(m, `anydiag_bmp_limit_hits_total{limit="allow_routers"} 1`) {
		t.Errorf("limit metric:\n%s", grepLines(m, "anydiag_bmp_limit_hits_total"))
	}

	_, base2, stop2 := startAgent(t, "node: {name: rr}\nanycast: {prefixes: [192.0.2.1/32]}\n")
	defer stop2()
	for _, path := range []string{"/api/v1/flaps", "/api/v1/bmp/routes"} {
		resp, err := http.Get(base2 + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "collectors.bmp.enabled is false") {
			t.Errorf("%s without BMP: %s %s", path, resp.Status, b)
		}
	}
}
