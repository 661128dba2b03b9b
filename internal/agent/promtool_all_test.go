package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/gobgptest"
)

// hostileLabel has every character the text format escapes (backslash,
// quote, line feed) and a tab, which it must not escape.
const hostileLabel = "core\t\"0\" C:\\x\ny"

// TestMetricsOfEveryCollectorPassPromtool runs the agent with every
// collector and component enabled — optics from EEPROM dumps, thermal from
// a sysfs fixture whose hwmon chip and label carry a tab, quote, backslash
// and line feed, link on lo, host, health checks, the policy with the
// embedded speaker peering on loopback (on a port other than 179) with a
// GoBGP router that also streams BMP to the agent's station — and checks
// that /metrics passes `promtool check metrics` with no lint complaint, that
// the hostile label comes out escaped once, and that the host check counts
// the agent's own speaker.
func TestMetricsOfEveryCollectorPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	dir := t.TempDir()

	// Thermal: the intel-server capture plus one chip with hostile strings.
	sys := filepath.Join(dir, "sys")
	if err := os.CopyFS(sys, os.DirFS(fixtureSys(t))); err != nil {
		t.Fatal(err)
	}
	hw := filepath.Join(sys, "class", "hwmon", "hwmon9")
	for name, content := range map[string]string{
		"name": "odd\tchip \"x\" \\", "temp1_input": "45000", "temp1_crit": "100000", "temp1_label": hostileLabel,
	} {
		if err := os.MkdirAll(hw, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hw, name), []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Optics: an SFP+ dump in ethtool's hex format, vendor text with a
	// quote and a backslash.
	var dump bytes.Buffer
	img := eepromgen.SFP(eepromgen.SFPValues{
		Identity:    eepromgen.Identity{Vendor: `ACME "OPT\CS`, PartNumber: "SFP-10G-LR", Serial: "S1"},
		TempCelsius: 41, VccVolts: 3.3,
		Lane: eepromgen.LaneValues{TxBiasMA: 35.5, TxPowerDBm: -2, RxPowerDBm: -4},
	})
	if err := eepromgen.WriteHex(&dump, img); err != nil {
		t.Fatal(err)
	}
	sfp := filepath.Join(dir, "eth9.hex")
	if err := os.WriteFile(sfp, dump.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// Health: one check that passes, one that fails.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	defer web.Close()
	closed := freePort(t, "127.0.0.1")

	// The upstream router: a GoBGP on 127.0.0.2 that waits for the agent's
	// speaker and streams BMP to the agent's station.
	router := startGoBGP(t, 65001, "127.0.0.2")
	listenPort := freePort(t, "127.0.0.1")
	bmpPort := freePort(t, "127.0.0.1")
	router.Await(t, "127.0.0.1", 64500, gobgptest.PeerOptions{})

	cfg := fmt.Sprintf(`node: {name: "pop \"1\"", site: "lab\\1", continent: EU}
anycast: {prefixes: [192.0.2.1/32, "2001:db8::1/128"]}
speaker:
  gobgp:
    asn: 64500
    router_id: 192.0.2.9
    listen_port: %d
    local_address: 127.0.0.1
    neighbors: [{address: 127.0.0.2, asn: 65001, port: %d, connect_retry: 1s}]
health:
  checks:
    - {name: web, type: http, url: %s, expect_status: 200, interval: 100ms, timeout: 100ms, rise: 1, fall: 1}
    - {name: closed, type: tcp, address: "127.0.0.1:%d", interval: 100ms, timeout: 100ms, rise: 1, fall: 1}
policy:
  interval: 100ms
  audit_file: %s
  rules:
    - {when: {check: web, state: down}, action: withdraw}
collectors:
  thermal: {enabled: true, interval: 100ms, sysfs_root: %s}
  optics: {enabled: true, interval: 100ms, eeprom_files: {eth9: %s}}
  link: {enabled: true, interval: 100ms, interfaces: [lo]}
  host: {enabled: true, interval: 100ms}
  bmp: {enabled: true, listen: 127.0.0.1:%d}
`, listenPort, router.Port, web.URL, closed, filepath.Join(dir, "audit.jsonl"), sys, sfp, bmpPort)
	_, base, stop := startAgent(t, cfg)
	defer stop()
	if err := router.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_PRE, SysName: "router"}); err != nil {
		t.Fatal(err)
	}

	// Wait until every component has published.
	want := []string{
		`anydiag_bgp_session_up{neighbor="127.0.0.2",peer_as="65001",family="ipv4-unicast"} 1`,
		`anydiag_bgp_prefixes_advertised{neighbor="127.0.0.2",peer_as="65001",family="ipv4-unicast"} 1`,
		`anydiag_policy_announced{prefix="192.0.2.1/32"} 1`,
		`anydiag_bmp_peer_up{`,
		`anydiag_health_check_up{check="web",type="http"} 1`,
		`anydiag_health_check_up{check="closed",type="tcp"} 0`,
		`anydiag_optics_tx_bias_amperes{interface="eth9",lane="1"} 0.035`,
		`anydiag_optics_info{interface="eth9",vendor="ACME \"OPT\\CS"`,
		// Escaped once: \t stays a tab, quote and backslash and line feed
		// get one backslash.
		`anydiag_thermal_sensor_celsius{chip="odd` + "\t" + `chip \"x\" \\",sensor="temp1",label="core` + "\t" + `\"0\" C:\\x\ny"} 45`,
		`anydiag_thermal_cooling_device_state{device="cooling_device2",type="intel_powerclamp"} -1`,
		`anydiag_link_up{device="lo"} 1`,
		`anydiag_host_prerequisite_ok `,
		`anydiag_build_info{version="test",node="pop \"1\"",site="lab\\1",continent="EU"} 1`,
	}
	var m string
	waitFor(t, "every component's metrics", func() bool {
		m = get(t, base+"/metrics")
		for _, w := range want {
			if !strings.Contains(m, w) {
				return false
			}
		}
		return true
	})

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(m)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, m)
	}
	families := map[string]bool{}
	for _, l := range strings.Split(m, "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			families[strings.Fields(name)[0]] = true
		}
	}
	t.Logf("promtool accepts %d families, %d bytes", len(families), len(m))

	// The agent's own embedded speaker, on a port other than 179, is the
	// node's BGP daemon.
	var fs []finding.Finding
	if err := json.Unmarshal([]byte(get(t, base+"/api/v1/findings")), &fs); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Code == "host.bgp_daemon_missing" {
			t.Errorf("false positive: %s: %s", f.Code, f.Summary)
		}
	}
}

// TestEveryDescribedFamilyPassesPromtoolLint writes one sample of every
// family the binary can export (including those the full-agent test does
// not reach: flaps, fleet guard, webhook, push) and runs promtool's lint on
// it: names, units and counter suffixes.
func TestEveryDescribedFamilyPassesPromtoolLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	var b strings.Builder
	fams := prometheus.Described()
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.Name, strings.ReplaceAll(f.Help, "\n", " "), f.Name, f.Type)
		switch f.Type {
		case prometheus.Histogram:
			fmt.Fprintf(&b, "%s_bucket{le=\"1\"} 1\n%s_bucket{le=\"+Inf\"} 1\n%s_sum 0.5\n%s_count 1\n", f.Name, f.Name, f.Name, f.Name)
		case prometheus.Summary:
			fmt.Fprintf(&b, "%s{quantile=\"0.5\"} 1\n%s_sum 1\n%s_count 1\n", f.Name, f.Name, f.Name)
		default:
			fmt.Fprintf(&b, "%s 1\n", f.Name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics on %d families: %v\n%s", len(fams), err, out)
	}
	t.Logf("%d described families pass promtool's lint", len(fams))
}
