package gobgp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/speakers/internal/labtest"
)

// The embedded speaker dials and listens from GoBGP's own goroutines, on
// any OS thread, so switching one thread into a namespace (lab's Node.Do)
// would leave its sockets outside. The lab test therefore re-executes this
// test binary under `ip netns exec` (lab's Node.Start): in child mode it runs
// the speaker and takes commands, one per line, on a unix socket.
const (
	childEnv  = "ANYDIAG_SPEAKER_CHILD"
	socketEnv = "ANYDIAG_SPEAKER_CTL"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := runChild(os.Getenv(socketEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "speaker child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(sock string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addr := func(s string) yamlconf.Addr { return yamlconf.Addr{Addr: netip.MustParseAddr(s)} }
	sp, err := New(Config{
		ASN: 65010, RouterID: addr("192.0.2.10"), ListenPort: -1,
		Neighbors: []Neighbor{
			{Address: addr(labtest.UpV4), ASN: labtest.UpASN, ConnectRetry: yamlconf.Duration(time.Second)},
			{Address: addr(labtest.UpV6), ASN: labtest.UpASN, ConnectRetry: yamlconf.Duration(time.Second)},
		},
	}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	if err := sp.Start(ctx); err != nil {
		return err
	}
	defer sp.Stop(context.Background())
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { l.Close() })
	for {
		c, err := l.Accept()
		if err != nil {
			return nil
		}
		serveChild(ctx, sp, c)
	}
}

// serveChild answers "announce PREFIX [MED]", "withdraw PREFIX" and "peers"
// with "ok ..." or "err ...".
func serveChild(ctx context.Context, sp *Speaker, c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var err error
		var out string
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		switch {
		case len(f) >= 2 && f[0] == "announce":
			var attrs policy.Attributes
			if len(f) == 3 {
				med, _ := strconv.ParseUint(f[2], 10, 32)
				m := uint32(med)
				attrs.MED = &m
			}
			err = sp.Announce(cctx, netip.MustParsePrefix(f[1]), attrs)
		case len(f) == 2 && f[0] == "withdraw":
			err = sp.Withdraw(cctx, netip.MustParsePrefix(f[1]))
		case len(f) == 1 && f[0] == "peers":
			var ps []PeerState
			ps, err = sp.Peers(cctx)
			for _, p := range ps {
				out += fmt.Sprintf(" %s=%s", p.Address, p.State)
			}
		default:
			err = errors.New("unknown command")
		}
		cancel()
		if err != nil {
			fmt.Fprintf(c, "err %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintf(c, "ok%s\n", out)
		}
	}
}

// child is the parent's handle on the speaker running in the PoP node.
type child struct {
	conn net.Conn
	r    *bufio.Reader
}

func (c *child) do(cmd string) (string, error) {
	if _, err := fmt.Fprintln(c.conn, cmd); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "err "); ok {
		return "", fmt.Errorf("%s: %s", cmd, rest)
	}
	return strings.TrimPrefix(line, "ok"), nil
}

func startChild(t *testing.T, ctx context.Context) (*labtest.Env, *child) {
	t.Helper()
	env := labtest.Start(t, ctx, 65010)
	sock := filepath.Join(env.Lab.TempDir(), "speaker.ctl")
	proc, err := env.Pop.Start(ctx, "speaker", []string{os.Args[0]},
		lab.StartOptions{Env: []string{childEnv + "=1", socketEnv + "=" + sock}})
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	err = lab.WaitFor(ctx, 20*time.Second, 20*time.Millisecond, func() (bool, error) {
		conn, err = net.Dial("unix", sock)
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("speaker child: %v\n%s", err, proc.LogTail())
	}
	t.Cleanup(func() { conn.Close() })
	env.WaitSession(t, ctx, labtest.PopV4)
	env.WaitSession(t, ctx, labtest.PopV6)
	return env, &child{conn: conn, r: bufio.NewReader(conn)}
}

// TestLabEmbeddedSpeaker runs the embedded speaker in the PoP's namespace,
// peering with a real FRR over IPv4 and IPv6.
func TestLabEmbeddedSpeaker(t *testing.T) {
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	env, c := startChild(t, ctx)
	peers, err := c.do("peers")
	if err != nil || !strings.Contains(peers, labtest.UpV4+"=Established") || !strings.Contains(peers, labtest.UpV6+"=Established") {
		t.Fatalf("peers: %q %v", peers, err)
	}
	for _, p := range []netip.Prefix{labtest.Prefix4, labtest.Prefix6} {
		for _, st := range []struct {
			cmd  string
			held bool
			med  *uint32
		}{
			{"announce " + p.String(), true, nil},
			{"announce " + p.String() + " 400", true, ptr(uint32(400))},
			{"withdraw " + p.String(), false, nil},
			{"announce " + p.String(), true, nil},
		} {
			if _, err := c.do(st.cmd); err != nil {
				t.Fatal(err)
			}
			err := lab.WaitFor(ctx, 20*time.Second, 10*time.Millisecond, func() (bool, error) {
				r, held, err := env.Held(ctx, p)
				if err != nil || held != st.held {
					return false, fmt.Errorf("FRR holds %s: %t (%v)", p, held, err)
				}
				if held && r.Paths[0].ASPath.String != "65010" {
					return false, fmt.Errorf("FRR AS path %q, want 65010", r.Paths[0].ASPath.String)
				}
				if held && st.med != nil && (r.Paths[0].Med == nil || *r.Paths[0].Med != *st.med) {
					return false, fmt.Errorf("FRR MED %v, want %d", r.Paths[0].Med, *st.med)
				}
				return true, nil
			})
			if err != nil {
				t.Fatalf("%s: %v", st.cmd, err)
			}
		}
	}
}

// TestLabWithdrawTiming measures Withdraw() (sent to the speaker in the
// PoP) to the upstream FRR no longer holding the route; set
// ANYDIAG_SPEAKER_BENCH=1.
func TestLabWithdrawTiming(t *testing.T) {
	if os.Getenv(labtest.BenchEnv) == "" {
		t.Skip("set " + labtest.BenchEnv + "=1 to measure")
	}
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env, c := startChild(t, ctx)
	for _, p := range []netip.Prefix{labtest.Prefix4, labtest.Prefix6} {
		if _, err := c.do("announce " + p.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitHeld(ctx, p, true); err != nil {
			t.Fatal(err)
		}
		env.TimeWithdrawals(t, ctx, "gobgp (embedded)", 20, p,
			func(context.Context) error { _, err := c.do("withdraw " + p.String()); return err },
			func(context.Context) error { _, err := c.do("announce " + p.String()); return err })
	}
}
