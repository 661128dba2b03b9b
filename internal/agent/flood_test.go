package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/serve"
)

// The attack of issue 11: many idle unauthenticated connections to the
// agent's port exhausted its descriptors, its own health check failed with
// EMFILE and the policy withdrew the prefix. The agent runs as a child with
// RLIMIT_NOFILE 256 (the test binary keeps its own limit) and 400 idle
// connections are opened to /healthz's port. The server holds at most its
// cap (64 at that limit), the health check never reports down and the
// policy never withdraws, and idle connections are closed after the
// timeout (1s here), so every client is served in the end.
func TestAgentSurvivesIdleConnectionFlood(t *testing.T) {
	if _, err := serve.RaiseNOFILE(); err != nil {
		t.Fatal(err)
	}
	const (
		nofile = 256
		conns  = 400
		capAt  = 64 // serve.DefaultMaxConns at RLIMIT_NOFILE 256
	)
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	go func() {
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	cfg := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf(`node: {name: flood}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
health:
  checks:
    - {name: svc, type: tcp, address: "%s", interval: 500ms, timeout: 500ms, rise: 1, fall: 1}
policy:
  interval: 1s
  audit_file: %s
  rules:
    - {when: {check: svc, state: down}, action: withdraw}
`, svc.Addr(), audit)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(dir, "addr")
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+cfg, childAddrEnv+"="+addrFile,
		childNOFILE+"="+strconv.Itoa(nofile), childIdleEnv+"=1s")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	logTail := func() string { b, _ := os.ReadFile(logf.Name()); return string(b[max(0, len(b)-4000):]) }
	var addr string
	waitFor(t, "the agent child's address", func() bool {
		b, err := os.ReadFile(addrFile)
		addr = string(b)
		return err == nil
	})
	base := "http://" + addr
	// The neighbor never connects: the policy's decision, not the speaker's
	// advertisement, is what this test watches.
	const announced = `anydiag_policy_decisions_total{prefix="192.0.2.1/32",action="announce",outcome="applied"} 1`
	waitFor(t, "the prefix announced with the check up", func() bool {
		m := get(t, base+"/metrics")
		return strings.Contains(m, `anydiag_health_check_up{check="svc",type="tcp"} 1`) &&
			strings.Contains(m, announced)
	})
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	// The flood: connections that never send a byte.
	var flood []net.Conn
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		flood = append(flood, c)
	}
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	// Every flood connection is closed by the agent in the end (read
	// header timeout), while the number it holds never exceeds its cap.
	most := 0
	closed := make(chan error, conns)
	for _, c := range flood {
		go func() {
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			_, err := c.Read(make([]byte, 1))
			closed <- err
		}()
	}
	for n := 0; n < conns; {
		held, err := socketsOn(cmd.Process.Pid, port)
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, held)
		select {
		case err := <-closed:
			n++
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("an idle connection was never closed by the agent\n%s", logTail())
			}
			if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("idle connection: %v", err)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	if most > capAt {
		t.Errorf("the agent held %d connections on its HTTP port, cap %d", most, capAt)
	}
	if most == 0 {
		t.Error("no flood connection ever reached the agent: the test measured nothing")
	}
	t.Logf("%d idle connections: the agent held at most %d at once (cap %d); all closed by the agent", conns, most, capAt)

	m := get(t, base+"/metrics")
	for _, bad := range []string{`anydiag_health_probes_total{check="svc",result="fail"}`, `anydiag_health_probes_total{check="svc",result="unknown"}`} {
		if strings.Contains(m, bad) && !strings.Contains(m, bad+" 0") {
			t.Errorf("the health check failed during the flood: %s", grepLines(m, bad))
		}
	}
	if !strings.Contains(m, announced) || strings.Contains(m, `action="withdraw"`) {
		t.Errorf("the policy withdrew during the flood:\n%s", grepLines(m, "anydiag_policy_decisions"))
	}
	b, err := os.ReadFile(audit)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"withdraw"`) {
		t.Errorf("the policy withdrew during the flood:\n%s", b)
	}
}

// socketsOn counts the TCP sockets of process pid whose local port is
// port: the connections the agent's HTTP server holds (and its listener).
func socketsOn(pid int, port string) (int, error) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// local_address is HEXIP:HEXPORT; st 01 is ESTABLISHED.
		if len(fs) > 9 && strings.HasSuffix(fs[1], fmt.Sprintf(":%04X", p)) && fs[3] == "01" {
			want[fs[9]] = true
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok && want[strings.TrimSuffix(ino, "]")] {
			n++
		}
	}
	return n, nil
}
