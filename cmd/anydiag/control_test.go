package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/agent"
)

// startSpeakerAgent runs an agent with the embedded speaker (no neighbours)
// and an authenticated control API, and returns its URL and token file.
// policy is the agent's policy section.
func startSpeakerAgent(t *testing.T, policy string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("0123456789abcdef-control\n"), 0o600)
	cfg := `node: {name: ctl}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
policy: ` + policy + `
exporters: {token_file: ` + token + `}
`
	return runAgent(t, dir, cfg), token
}

// runAgent runs an agent in-process on the configuration cfg (written to
// dir/agent.yaml) until the test ends, and returns its URL.
func runAgent(t *testing.T, dir, cfg string) string {
	t.Helper()
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

func announced(t *testing.T, base string) bool {
	t.Helper()
	// The policy's own state, not the anydiag_policy_announced gauge: with
	// the embedded speaker the gauge also needs an established neighbor,
	// and these agents have none.
	resp, err := http.Get(base + "/api/v1/policy/explain")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var x struct {
		Prefixes []struct {
			Prefix    string `json:"prefix"`
			Announced bool   `json:"announced"`
		} `json:"prefixes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&x); err != nil {
		t.Fatal(err)
	}
	for _, p := range x.Prefixes {
		if p.Prefix == "192.0.2.1/32" {
			return p.Announced
		}
	}
	return false
}

func waitAnnounced(t *testing.T, base string, want bool) {
	t.Helper()
	poll(t, fmt.Sprintf("announced to become %v", want), func() (bool, string) {
		got := announced(t, base)
		return got == want, fmt.Sprintf("announced %v", got)
	})
}

func TestWithdrawAnnounceThroughTheAgent(t *testing.T) {
	base, token := startSpeakerAgent(t, "{interval: 50ms}")
	waitAnnounced(t, base, true)

	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	if code, _, errs := runCLI(t, "withdraw", "192.0.2.1/32", "--reason", "x", "--agent", base, "--token-file", bad); code != exitUsage || !strings.Contains(errs, "refused the token") {
		t.Fatalf("bad token: exit %d, %s", code, errs)
	}
	if !announced(t, base) {
		t.Fatal("a request with a wrong token changed the announcement")
	}
	if code, _, _ := runCLI(t, "withdraw", "192.0.2.1/32", "--agent", base, "--token-file", token); code != exitUsage {
		t.Fatalf("withdraw without --reason: exit %d", code)
	}
	code, out, errs := runCLI(t, "withdraw", "192.0.2.1/32", "--reason", "maintenance", "--agent", base, "--token-file", token, "--json")
	if code != exitOK {
		t.Fatalf("withdraw: exit %d\n%s%s", code, out, errs)
	}
	var ds []map[string]any
	if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 || ds[0]["action"] != "withdraw" {
		t.Fatalf("withdraw output %s (%v)", out, err)
	}
	waitAnnounced(t, base, false)
	// A second withdraw changes nothing and says so, without a zero time.
	code, out, errs = runCLI(t, "withdraw", "192.0.2.1", "--reason", "again", "--agent", base, "--token-file", token)
	if code != exitOK || !strings.Contains(out, "already withdrawn") || strings.Contains(out, "0001-01-01") {
		t.Fatalf("second withdraw: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "announce", "192.0.2.1/32", "--agent", base, "--token-file", token)
	if code != exitOK || !strings.HasPrefix(out, "192.0.2.1/32: announced") || strings.Contains(out, "0001-01-01") {
		t.Fatalf("announce: exit %d\n%s%s", code, out, errs)
	}
	waitAnnounced(t, base, true)
	code, out, errs = runCLI(t, "announce", "192.0.2.1/32", "--agent", base, "--token-file", token)
	if code != exitOK || !strings.HasPrefix(out, "192.0.2.1/32: already announced") {
		t.Fatalf("announce of an announced prefix: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "announce", "192.0.2.1/32", "--agent", base, "--token-file", token, "--json")
	if code != exitOK || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0]["outcome"] != "unchanged" || strings.Contains(out, "0001-01-01") {
		t.Fatalf("announce --json of an announced prefix: exit %d\n%s%s", code, out, errs)
	}
	for _, args := range [][]string{{"undrain"}, {"undrain", "--json"}} {
		code, out, errs = runCLI(t, append(args, "--agent", base, "--token-file", token)...)
		if code != exitOK || strings.Contains(out, "null") || out == "" {
			t.Fatalf("anydiag %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
}

func TestBadPrefixSaysWhatAPrefixLooksLike(t *testing.T) {
	for _, args := range [][]string{
		{"withdraw", "192.0.2.300/32", "--reason", "x"},
		{"announce", "fra1"},
	} {
		code, out, errs := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(errs, "192.0.2.1/32 or 2001:db8::1/128") || strings.Contains(errs, "ParsePrefix") {
			t.Errorf("anydiag %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
}

// A withdrawal the fleet guard refuses exits 1 with one line saying so; the
// prefix stays announced. The guard's source is a closed loopback port, so
// the count cannot be read and the guard keeps the announcement.
func TestRefusedWithdrawAndDrainExitOne(t *testing.T) {
	base, token := startSpeakerAgent(t, "{interval: 50ms, fleet_guard: {min_announcing: 2, source: promql, query: 'count(up)', url: 'http://127.0.0.1:1'}}")
	waitAnnounced(t, base, true)
	code, out, errs := runCLI(t, "withdraw", "192.0.2.1/32", "--reason", "maintenance", "--agent", base, "--token-file", token)
	if code != exitFindings {
		t.Fatalf("refused withdraw: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("refused withdraw: %s%s", out, errs)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "withdraw REFUSED by the fleet guard") {
		t.Errorf("want one summary line naming the guard, got:\n%s", out)
	}
	if !strings.Contains(errs, "withdraw refused") || strings.Contains(out+errs, "{") {
		t.Errorf("stderr %q / stdout %q", errs, out)
	}
	if !announced(t, base) {
		t.Fatal("a refused withdrawal withdrew the prefix")
	}
	code, out, errs = runCLI(t, "withdraw", "192.0.2.1/32", "--reason", "maintenance", "--agent", base, "--token-file", token, "--json")
	var ds []map[string]any
	if code != exitFindings || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0]["outcome"] != "refused" {
		t.Fatalf("refused withdraw --json: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "drain", "--agent", base, "--token-file", token)
	if code != exitFindings || !strings.Contains(out, "REFUSED") || !strings.Contains(errs, "drain refused") {
		t.Fatalf("refused drain: exit %d\n%s%s", code, out, errs)
	}
}

// policy explain --agent decodes a guard's retry time, with and without
// --json: the hold-down refuses the re-announcement for an hour.
func TestExplainAgentWithRetryTime(t *testing.T) {
	base, token := startSpeakerAgent(t, "{interval: 50ms, hold_down: 1h}")
	waitAnnounced(t, base, true)
	if code, out, errs := runCLI(t, "withdraw", "192.0.2.1/32", "--reason", "test", "--agent", base, "--token-file", token); code != exitOK {
		t.Fatalf("withdraw: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCLI(t, "announce", "192.0.2.1/32", "--agent", base, "--token-file", token)
	if code != exitOK || !strings.Contains(out, "REFUSED by the hold-down") || !strings.Contains(out, "retry in 1h0m0s") && !strings.Contains(out, "retry in 59m") {
		t.Fatalf("announce in hold-down: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "policy", "explain", "--agent", base)
	if code == exitRuntime || code == exitUsage || !strings.Contains(out, "REFUSED by hold_down (retry in") {
		t.Fatalf("explain: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "policy", "explain", "--agent", base, "--json")
	var x struct {
		Prefixes []struct {
			Next *struct {
				RetryAfter float64 `json:"retry_after_seconds"`
			} `json:"next"`
		} `json:"prefixes"`
	}
	if code == exitRuntime || code == exitUsage || json.Unmarshal([]byte(out), &x) != nil || len(x.Prefixes) != 1 || x.Prefixes[0].Next == nil || x.Prefixes[0].Next.RetryAfter < 3000 {
		t.Fatalf("explain --json: exit %d\n%s%s", code, out, errs)
	}
}
