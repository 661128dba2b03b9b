package gobgp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
)

// lockedBuffer collects the speaker's logs across GoBGP's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A speaker with a TCP-MD5 password that is started and stopped again and
// again (a reload that changes the speaker) reuses the pooled GoBGP server:
// the goroutine count stays flat, and the warnings GoBGP logs for the
// closed listeners of a reused server are not passed on. The peer is a real
// GoBGP router requiring the key.
func TestMD5SpeakerRestartsDoNotLeakGoroutines(t *testing.T) {
	const addr, local, password = "127.0.0.2", "127.0.0.3", "lab-md5-key"
	rport, lport := freePort(t, addr), freePort(t, local)
	router := server.NewBgpServer(server.LoggerOption(newLogger(slog.New(slog.DiscardHandler), time.Now)))
	go router.Serve()
	ctx := context.Background()
	if err := router.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65001, RouterId: "198.51.100.1", ListenPort: int32(rport), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Stop)
	if err := router.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: local, PeerAsn: 65010, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cfg := Config{
		ASN: 65010, RouterID: yamlconf.Addr{Addr: netip.MustParseAddr("192.0.2.10")},
		// A listener of its own, so the reused server's list of closed
		// listeners is walked when the neighbor's key is set.
		ListenPort: lport, LocalAddress: yamlconf.Addr{Addr: netip.MustParseAddr(local)},
		Neighbors: []Neighbor{{Address: yamlconf.Addr{Addr: netip.MustParseAddr(addr)}, ASN: 65001, Port: uint16(rport),
			Password: password, ConnectRetry: yamlconf.Duration(time.Second)}},
		ShutdownDrain: yamlconf.Duration(10 * time.Millisecond),
	}
	cycle := func(i int) {
		t.Helper()
		sp, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		// This kernel may lack TCP_MD5SIG (gVisor answers ENOPROTOOPT), so
		// the session is not waited for: the neighbor is configured with
		// its key on every Start, which is what picks the server.
		if ps, err := sp.Peers(ctx); err != nil || len(ps) != 1 {
			t.Fatalf("cycle %d: peers %+v, %v", i, ps, err)
		}
		if err := sp.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	// Warm up: the pool, the router's side and the runtime settle.
	for i := range 3 {
		cycle(i)
	}
	settled := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settled()
	const cycles = 20
	for i := range cycles {
		cycle(3 + i)
	}
	// A leak is one parked Serve goroutine (and more) per cycle; session
	// goroutines winding down may take a moment, so poll for the count.
	var after int
	err := lab.WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		after = settled()
		return after < before+cycles/2, nil
	})
	if err != nil {
		t.Fatalf("goroutines %d before %d restarts with an MD5 neighbor, %d after: a server leaks per restart", before, cycles, after)
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "failed to set md5") && strings.Contains(l, net.ErrClosed.Error()) {
			t.Errorf("MD5 warning for a closed listener of a reused server logged: %s", l)
		}
	}
}

func TestClosedListenerMD5(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		f    gobgplog.Fields
		want bool
	}{
		{"closed listener", "failed to set md5", gobgplog.Fields{"Err": fmt.Errorf("raw: %w", net.ErrClosed)}, true},
		{"setsockopt refused", "failed to set md5", gobgplog.Fields{"Err": syscall.ENOPROTOOPT}, false},
		{"no error field", "failed to set md5", gobgplog.Fields{}, false},
		{"other message", "failed to accept", gobgplog.Fields{"Err": net.ErrClosed}, false},
		{"error as string", "failed to set md5", gobgplog.Fields{"Err": errors.New("use of closed network connection").Error()}, false},
	} {
		if got := closedListenerMD5(tc.msg, tc.f); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
