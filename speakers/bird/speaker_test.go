package bird

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

// fakeBIRD answers the control protocol from a table of replies captured
// from BIRD 2.0.12, keyed by command; it tests this package's logic only.
// The lab test (lab_test.go) runs the same speaker against a real BIRD.
type fakeBIRD struct {
	mu      sync.Mutex
	up      bool // the static protocol's state
	stuck   bool // ignore enable/disable, as a broken BIRD would
	extra   bool // the protocol originates a second route
	cmds    []string
	socket  string
	stopped chan struct{}
}

func startFake(t *testing.T) *fakeBIRD {
	t.Helper()
	f := &fakeBIRD{up: true, socket: filepath.Join(t.TempDir(), "bird.ctl"), stopped: make(chan struct{})}
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(f.stopped)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.serve(c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-f.stopped })
	return f
}

func (f *fakeBIRD) serve(c net.Conn) {
	defer c.Close()
	c.Write([]byte("0001 BIRD 2.0.12 ready.\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	c.Write([]byte(f.reply(strings.TrimSpace(line))))
}

func (f *fakeBIRD) reply(cmd string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, cmd)
	state := map[bool]string{true: "up  ", false: "down"}
	switch cmd {
	case "show protocols anycast_v4":
		return "2002-Name       Proto      Table      State  Since         Info\n1002-anycast_v4 Static     master4    " + state[f.up] + "   22:34:10.133  \n0000 \n"
	case "show protocols up":
		return "2002-Name       Proto      Table      State  Since         Info\n1002-up         BGP        ---        up     22:34:12.000  Established   \n0000 \n"
	case "show route for 192.0.2.1/32 protocol anycast_v4", "show route for 192.0.2.1/32 export up":
		if !f.up {
			return "8001 Network not found\n"
		}
		return "1007-Table master4:\n 192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)\n0000 \n"
	case "show route protocol anycast_v4":
		if !f.up {
			return "8001 Network not found\n"
		}
		s := "1007-Table master4:\n 192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)\n"
		if f.extra {
			s += " 192.0.2.9/32         blackhole [anycast_v4 22:34:10.133] * (200)\n"
		}
		return s + "0000 \n"
	case "disable anycast_v4":
		was := f.up
		f.up = f.up && f.stuck
		if !was {
			return "0008-anycast_v4: already disabled\n0000 \n"
		}
		return "0009-anycast_v4: disabled\n0000 \n"
	case "enable anycast_v4":
		was := f.up
		f.up = f.up || !f.stuck
		if was {
			return "0010-anycast_v4: already enabled\n0000 \n"
		}
		return "0011-anycast_v4: enabled\n0000 \n"
	case "configure":
		return "0002-Reading configuration from bird.conf\n0003 Reconfigured\n"
	}
	return "9001 syntax error, unexpected CF_SYM_UNDEFINED\n"
}

func newTestSpeaker(t *testing.T, socket string) *Speaker {
	t.Helper()
	sp, err := New(Config{Socket: socket, BGPProtocols: []string{"up"},
		Prefixes: []Prefix{{Prefix: yamlconf.Prefix{Prefix: netip.MustParsePrefix("192.0.2.1/32")}, Protocol: "anycast_v4"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestSpeakerLogic(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.1/32")
	tests := []struct {
		name    string
		setup   func(*fakeBIRD)
		run     func(context.Context, *Speaker) error
		wantErr string // substring; "" means success
		wantUp  bool
	}{
		{"withdraw", nil, func(ctx context.Context, s *Speaker) error { return s.Withdraw(ctx, p) }, "", false},
		{"withdraw twice", nil, func(ctx context.Context, s *Speaker) error {
			if err := s.Withdraw(ctx, p); err != nil {
				return err
			}
			return s.Withdraw(ctx, p)
		}, "", false},
		{"announce after withdraw", func(f *fakeBIRD) { f.up = false }, func(ctx context.Context, s *Speaker) error { return s.Announce(ctx, p, speakers.Attributes{}) }, "", true},
		{"degraded refused", nil, func(ctx context.Context, s *Speaker) error {
			err := s.Announce(ctx, p, speakers.Attributes{Prepend: 1})
			if !errors.Is(err, speakers.ErrUnsupported) {
				return fmt.Errorf("not speakers.ErrUnsupported: %v", err)
			}
			return err
		}, "set in the BIRD configuration", true},
		{"unknown prefix", nil, func(ctx context.Context, s *Speaker) error {
			return s.Withdraw(ctx, netip.MustParsePrefix("192.0.2.2/32"))
		}, "not configured", true},
		{"protocol with other routes", func(f *fakeBIRD) { f.extra = true }, func(ctx context.Context, s *Speaker) error { return s.Withdraw(ctx, p) },
			"also originates 192.0.2.9/32", true},
		{"BIRD says disabled but the route stays", func(f *fakeBIRD) { f.stuck = true }, func(ctx context.Context, s *Speaker) error {
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			return s.Withdraw(ctx, p)
		}, "not confirmed: protocol anycast_v4 is up", true},
		{"configure", nil, func(ctx context.Context, s *Speaker) error { return s.Client().Configure(ctx) }, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			sp := newTestSpeaker(t, f.socket)
			err := tc.run(context.Background(), sp)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			st, err := sp.State(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].Announced != tc.wantUp {
				t.Fatalf("State = %+v, want announced=%t", st, tc.wantUp)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	c := &Client{Socket: filepath.Join(t.TempDir(), "missing.ctl")}
	if _, err := c.Command(ctx, "show status"); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("missing socket: %v", err)
	}
	f := startFake(t)
	c = &Client{Socket: f.socket}
	if _, err := c.Command(ctx, "show status\nshutdown"); err == nil {
		t.Fatal("a command with a newline was sent")
	}
	_, err := c.Command(ctx, "disable nosuch")
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != CodeParseError {
		t.Fatalf("unknown protocol: %v", err)
	}
	if _, err := c.Protocol(ctx, "x; shutdown"); err == nil {
		t.Fatal("an invalid protocol name was accepted")
	}
}

func TestConfigCheck(t *testing.T) {
	var c Config
	err := yamlconf.Decode("bird.yaml", []byte(`
socket: /run/bird/bird.ctl
prefixes:
  - {prefix: 192.0.2.1/32, protocol: anycast_v4}
  - {prefix: 192.0.2.1/32, protocol: "bad name"}
bgp_protocols: [up, "9x"]
`), &c)
	var ye *yamlconf.Error
	if !errors.As(err, &ye) || len(ye.Problems) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	for _, p := range ye.Problems {
		if p.Line == 0 {
			t.Errorf("problem without a line: %v", p)
		}
	}
}
