package gobgp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
	"github.com/anydiag/anydiag/speakers"
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
	// v4OnlyEnv makes the child peer with the upstream over IPv4 only.
	v4OnlyEnv = "ANYDIAG_SPEAKER_V4ONLY"
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
	neighbors := []Neighbor{
		{Address: addr(labtest.UpV4), ASN: labtest.UpASN, ConnectRetry: yamlconf.Duration(time.Second)},
		{Address: addr(labtest.UpV6), ASN: labtest.UpASN, ConnectRetry: yamlconf.Duration(time.Second)},
	}
	if os.Getenv(v4OnlyEnv) != "" {
		neighbors = neighbors[:1]
	}
	sp, err := New(Config{
		ASN: 65010, RouterID: addr("192.0.2.10"), ListenPort: -1, Neighbors: neighbors,
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

// serveChild answers "announce PREFIX [MED]", "withdraw PREFIX", "peers",
// "advertised PREFIX" and "observe PREFIX..." (one JSON line: the metrics
// text and the findings) with "ok ..." or "err ...".
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
			var attrs speakers.Attributes
			if len(f) == 3 {
				med, _ := strconv.ParseUint(f[2], 10, 32)
				m := uint32(med)
				attrs.MED = &m
			}
			err = sp.Announce(cctx, netip.MustParsePrefix(f[1]), attrs)
		case len(f) == 2 && f[0] == "withdraw":
			err = sp.Withdraw(cctx, netip.MustParsePrefix(f[1]))
		case len(f) == 2 && f[0] == "advertised":
			adv, ok := sp.Advertised(netip.MustParsePrefix(f[1]))
			out = fmt.Sprintf(" %t %t", adv, ok)
		case len(f) >= 1 && f[0] == "observe":
			var prefixes []netip.Prefix
			for _, p := range f[1:] {
				prefixes = append(prefixes, netip.MustParsePrefix(p))
			}
			var o observation
			var set *metrics.Set
			if set, o.Findings, err = observe(cctx, sp, time.Now(), prefixes); err == nil {
				var buf bytes.Buffer
				err = prometheus.Write(&buf, false, set)
				o.Metrics = buf.String()
				b, _ := json.Marshal(o)
				out = " " + string(b)
			}
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

// observation is the child's answer to "observe".
type observation struct {
	Metrics  string            `json:"metrics"`
	Findings []finding.Finding `json:"findings"`
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
	return startChildWith(t, ctx, false)
}

// startChildWith starts the speaker in the PoP, peering with the upstream
// over IPv4 only when v4Only, and waits for its sessions.
func startChildWith(t *testing.T, ctx context.Context, v4Only bool) (*labtest.Env, *child) {
	t.Helper()
	env := labtest.Start(t, ctx, 65010)
	sock := filepath.Join(env.Lab.TempDir(), "speaker.ctl")
	childEnvs := []string{childEnv + "=1", socketEnv + "=" + sock}
	if v4Only {
		childEnvs = append(childEnvs, v4OnlyEnv+"=1")
	}
	proc, err := env.Pop.Start(ctx, "speaker", []string{os.Args[0]}, lab.StartOptions{Env: childEnvs})
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
	if !v4Only {
		env.WaitSession(t, ctx, labtest.PopV6)
	}
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

// TestLabOwnSessions runs the embedded speaker in the PoP with an IPv4
// session only to a real FRR: its metrics say Established with one prefix
// advertised, the IPv6 anycast prefix raises bgp.family_not_carried, and
// when FRR shuts the neighbor the speaker reports bgp.session_down with the
// Cease/Administrative Shutdown FRR sent, and Advertised turns false.
func TestLabOwnSessions(t *testing.T) {
	labtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	env, c := startChildWith(t, ctx, true)
	p4, p6 := labtest.Prefix4.String(), labtest.Prefix6.String()
	if _, err := c.do("announce " + p4); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitHeld(ctx, labtest.Prefix4, true); err != nil {
		t.Fatal(err)
	}
	observe := func() observation {
		t.Helper()
		out, err := c.do("observe " + p4 + " " + p6)
		if err != nil {
			t.Fatal(err)
		}
		var o observation
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatalf("observe: %v: %q", err, out)
		}
		return o
	}
	codes := func(o observation) []string {
		var out []string
		for _, f := range o.Findings {
			out = append(out, f.Code+" "+f.Subject)
		}
		return out
	}
	id := fmt.Sprintf(`neighbor="%s",peer_as="%d"`, labtest.UpV4, labtest.UpASN)
	o := observe()
	for _, want := range []string{
		`anydiag_bgp_session_state{` + id + `,state="Established"} 1`,
		`anydiag_bgp_session_up{` + id + `,family="ipv4-unicast"} 1`,
		`anydiag_bgp_prefixes_advertised{` + id + `,family="ipv4-unicast"} 1`,
	} {
		if !strings.Contains(o.Metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, o.Metrics)
		}
	}
	if got := codes(o); !slices.Equal(got, []string{"bgp.family_not_carried prefix " + p6}) {
		t.Errorf("findings with the session up: %q", got)
	}
	if out, err := c.do("advertised " + p4); err != nil || out != " true true" {
		t.Errorf("advertised %s: %q %v", p4, out, err)
	}

	if out, err := env.FRR.Vtysh(ctx, "configure terminal", fmt.Sprintf("router bgp %d", labtest.UpASN),
		"neighbor "+labtest.PopV4+" shutdown"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	err := lab.WaitFor(ctx, 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		o = observe()
		for _, f := range o.Findings {
			if f.Code == "bgp.session_down" && f.Subject == "peer "+labtest.UpV4 &&
				strings.Contains(f.Summary, "the peer sent Cease/Administrative Shutdown (6/2)") {
				return true, nil
			}
		}
		return false, fmt.Errorf("findings %q", codes(o))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`anydiag_bgp_session_up{` + id + `,family="ipv4-unicast"} 0`,
		`anydiag_bgp_session_last_error_info{` + id + `,error="the peer sent Cease/Administrative Shutdown (6/2)"} 1`,
	} {
		if !strings.Contains(o.Metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, o.Metrics)
		}
	}
	if out, err := c.do("advertised " + p4); err != nil || out != " false true" {
		t.Errorf("advertised %s with the session shut: %q %v", p4, out, err)
	}
}
