package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/agent"
)

// startSpeakerAgent runs an agent with the embedded speaker (no neighbours)
// and an authenticated control API, and returns its URL and token file.
func startSpeakerAgent(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	cfg := `node: {name: ctl}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
policy: {interval: 50ms}
exporters: {token_file: ` + token + `}
`
	path := filepath.Join(dir, "agent.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
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
	return "http://" + ln.Addr().String(), token
}

func announced(t *testing.T, base string) bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `anydiag_policy_announced{prefix="192.0.2.1/32"} 1`)
}

func waitAnnounced(t *testing.T, base string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for announced(t, base) != want {
		if time.Now().After(deadline) {
			t.Fatalf("announced never became %v", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWithdrawAnnounceThroughTheAgent(t *testing.T) {
	base, token := startSpeakerAgent(t)
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
	if code, out, errs := runCLI(t, "announce", "192.0.2.1/32", "--agent", base, "--token-file", token); code != exitOK {
		t.Fatalf("announce: exit %d\n%s%s", code, out, errs)
	}
	waitAnnounced(t, base, true)
}
