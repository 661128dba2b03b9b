package health

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/miekg/dns"
)

func probe(t *testing.T, c CheckConfig) error {
	t.Helper()
	c.defaults()
	p, err := NewProber(c)
	if err != nil {
		t.Fatalf("NewProber: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout.D())
	defer cancel()
	return p.Probe(ctx)
}

func ptr[T any](v T) *T { return &v }

func TestHTTPProbe(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/host" && r.Host != "svc.example.org":
			http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
		case r.URL.Path == "/broken":
			http.Error(w, "backend down", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "status: ok")
		}
	})
	plain := httptest.NewServer(handler)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(handler)
	// The refused handshake is expected; keep it out of the test log.
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	tests := []struct {
		name    string
		cfg     CheckConfig
		wantErr string
	}{
		{"status and body", CheckConfig{URL: plain.URL + "/health", BodyMatch: "status: ok"}, ""},
		{"body mismatch", CheckConfig{URL: plain.URL + "/health", BodyMatch: "^ready$"}, "body does not match"},
		{"status mismatch", CheckConfig{URL: plain.URL + "/broken"}, "status 503, want 200"},
		{"expected non-200 status", CheckConfig{URL: plain.URL + "/broken", ExpectStatus: 503}, ""},
		{"host header sent", CheckConfig{URL: plain.URL + "/host", Host: "svc.example.org"}, ""},
		{"host header missing", CheckConfig{URL: plain.URL + "/host"}, "status 421"},
		{"self-signed refused when verifying", CheckConfig{URL: tlsSrv.URL + "/health"}, "certificate"},
		{"self-signed accepted without verification", CheckConfig{URL: tlsSrv.URL + "/health", TLSVerify: ptr(false)}, ""},
		{"connection refused", CheckConfig{URL: "http://" + closedPort(t)}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Type = TypeHTTP
			checkErr(t, probe(t, tt.cfg), tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	checkErr(t, probe(t, CheckConfig{Type: TypeTCP, Address: l.Addr().String()}), "")
	checkErr(t, probe(t, CheckConfig{Type: TypeTCP, Address: closedPort(t)}), "connection refused")
}

// startDNS serves example.org. A 192.0.2.1 (and SERVFAIL for broken.example.org.)
// on 127.0.0.1 over UDP and TCP.
func startDNS(t *testing.T) (udpAddr, tcpAddr string) {
	t.Helper()
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Name == "example.org." && q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR("example.org. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case q.Name == "broken.example.org.":
			m.Rcode = dns.RcodeServerFailure
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: mux}, {Listener: l, Handler: mux}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String(), l.Addr().String()
}

func TestDNSProbe(t *testing.T) {
	udp, tcp := startDNS(t)
	tests := []struct {
		name    string
		cfg     CheckConfig
		wantErr string
	}{
		{"A answer", CheckConfig{Query: "example.org.", ExpectAnswer: []string{"192.0.2.1"}}, ""},
		{"unqualified name", CheckConfig{Query: "example.org"}, ""},
		{"wrong answer", CheckConfig{Query: "example.org.", ExpectAnswer: []string{"192.0.2.2"}}, `no answer record with data "192.0.2.2"`},
		{"nxdomain expected", CheckConfig{Query: "missing.example.org.", RCode: "NXDOMAIN"}, ""},
		{"nxdomain unexpected", CheckConfig{Query: "missing.example.org."}, "rcode NXDOMAIN, want NOERROR"},
		{"servfail", CheckConfig{Query: "broken.example.org."}, "rcode SERVFAIL"},
	}
	for _, transport := range []string{"udp", "tcp"} {
		server := udp
		if transport == "tcp" {
			server = tcp
		}
		for _, tt := range tests {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				c := tt.cfg
				c.Type, c.Transport = TypeDNS, transport
				c.Server = yamlconf.AddrPort{AddrPort: mustAddrPort(t, server)}
				checkErr(t, probe(t, c), tt.wantErr)
			})
		}
	}
	t.Run("no server", func(t *testing.T) {
		c := CheckConfig{Type: TypeDNS, Query: "example.org.", Transport: "tcp", Timeout: yamlconf.Duration(time.Second)}
		c.Server = yamlconf.AddrPort{AddrPort: mustAddrPort(t, closedPort(t))}
		checkErr(t, probe(t, c), "connection refused")
	})
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestICMPProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raw ICMP sockets need root")
	}
	c := CheckConfig{Type: TypeICMP, Privileged: true, Timeout: yamlconf.Duration(2 * time.Second)}
	c.Target.Addr = netip.MustParseAddr("127.0.0.1")
	checkErr(t, probe(t, c), "")
}

func TestExecProbe(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		wantErr string
	}{
		{"exit 0", []string{"/bin/sh", "-c", "exit 0"}, time.Second, ""},
		{"exit 3 with output", []string{"/bin/sh", "-c", "echo backend unreachable; exit 3"}, time.Second, "exit status 3: backend unreachable"},
		{"missing program", []string{filepath.Join(dir, "nope")}, time.Second, "no such file"},
		{"timeout kills the group", []string{"/bin/sh", "-c", "sleep 60 & echo $$ $! > " + pidFile + "; wait"}, 300 * time.Millisecond, "timed out, process group killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, probe(t, CheckConfig{Type: TypeExec, Command: tt.argv, Timeout: yamlconf.Duration(tt.timeout)}), tt.wantErr)
		})
	}
	// The shell and its sleeping child must both be gone: poll /proc.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the timeout test did not record its pids: %v", err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		err := lab.WaitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() (bool, error) { return !alive(pid), nil })
		if err != nil {
			t.Fatalf("process %d still alive after the check timed out: %v", pid, err)
		}
	}
}

// alive reports whether pid exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
