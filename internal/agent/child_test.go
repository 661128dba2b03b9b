package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/serve"
)

// Some tests run the agent as a child process: in a lab namespace (the
// embedded speaker's sockets must be made inside it, from any thread), or
// with a low RLIMIT_NOFILE that must not touch the test binary itself. The
// child is this test binary re-executed with childEnv set.
const (
	childEnv     = "ANYDIAG_AGENT_CHILD"  // config file path
	childSockEnv = "ANYDIAG_AGENT_SOCK"   // unix socket to serve HTTP on
	childAddrEnv = "ANYDIAG_AGENT_ADDR"   // or: file to write the TCP address to
	childNOFILE  = "ANYDIAG_AGENT_NOFILE" // soft and hard RLIMIT_NOFILE
	childIdleEnv = "ANYDIAG_AGENT_IDLE"   // read-header and idle timeout
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		if err := runChild(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "agent child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(cfg string) error {
	if v := os.Getenv(childNOFILE); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return err
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var ln net.Listener
	var err error
	if sock := os.Getenv(childSockEnv); sock != "" {
		ln, err = net.Listen("unix", sock)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return err
	}
	var limits serve.Limits
	if v := os.Getenv(childIdleEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		limits.ReadHeaderTimeout, limits.IdleTimeout = d, d
	}
	a, err := New(Options{ConfigPath: cfg, Version: "test", Listener: ln, Limits: limits,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		return err
	}
	if f := os.Getenv(childAddrEnv); f != "" {
		if err := os.WriteFile(f+".tmp", []byte(ln.Addr().String()), 0o600); err != nil {
			return err
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			return err
		}
	}
	return a.Run(ctx)
}

// unixClient talks HTTP to an agent child serving on a unix socket, which
// works across network namespaces.
func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}
