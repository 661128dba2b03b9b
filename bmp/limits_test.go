package bmp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/internal/gen"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// fakeClock is the station's injected clock: expiry tests move it instead
// of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type limitedStation struct {
	st    *bmp.Station
	clock *fakeClock
	port  int
	url   string
}

// startLimited serves a station with lim on loopback, with an injected
// clock and its HTTP API.
func startLimited(t *testing.T, lim bmp.Limits) *limitedStation {
	t.Helper()
	clk := newFakeClock()
	st, url, port := serveStation(t, bmp.Config{Logger: testLogger(), Clock: clk.Now, Limits: lim})
	return &limitedStation{st: st, clock: clk, port: port, url: url}
}

// metric returns the value of the sample whose name and labels are series.
func metric(st *bmp.Station, series string) float64 {
	var b bytes.Buffer
	st.WriteMetrics(&b)
	for _, l := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func hits(st *bmp.Station, limit string) float64 {
	return metric(st, `anydiag_bmp_limit_hits_total{limit="`+limit+`"}`)
}

func hasFinding(st *bmp.Station, limit string) bool {
	for _, f := range st.Findings() {
		if f.Code == "bmp.limit_reached" && f.Evidence["limit"] == limit {
			return true
		}
	}
	return false
}

// heapMB is the live heap after a full GC, in MB.
func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// expectClosed waits until the station closes c (a read returns EOF or a
// reset rather than data or a timeout).
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the station did not close the connection", what)
	}
}

// TestLimitMaxRouters: 300 source addresses (127.0.1.x, 127.0.2.x) connect
// to a station capped at 100 routers: 100 are kept, 200 refused, counted,
// a finding; once they disconnect, a newcomer evicts the oldest, and after
// router_ttl (an injected clock) all entries go.
func TestLimitMaxRouters(t *testing.T) {
	ls := startLimited(t, bmp.Limits{MaxRouters: 100})
	var conns []net.Conn
	for i := 0; i < 300; i++ {
		src := fmt.Sprintf("127.0.%d.%d", 1+i/200, 1+i%200)
		c := dialFrom(t, src, ls.port)
		c.Write(gen.Initiation("r-" + src))
		conns = append(conns, c)
	}
	waitFor(t, "200 refusals", 20*time.Second, func() (bool, string) {
		return hits(ls.st, "max_routers") == 200, fmt.Sprint(hits(ls.st, "max_routers"))
	})
	if n := len(ls.st.Routers()); n != 100 {
		t.Fatalf("%d routers held, want 100", n)
	}
	if !hasFinding(ls.st, "max_routers") {
		t.Fatalf("no finding: %+v", ls.st.Findings())
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "every session closed", 20*time.Second, func() (bool, string) {
		v := metric(ls.st, "anydiag_bmp_routers_connected")
		return v == 0, fmt.Sprint(v)
	})
	// At the cap with every router disconnected, a new one evicts the oldest.
	ls.clock.Add(time.Minute)
	c := dialFrom(t, "127.0.3.1", ls.port)
	c.Write(gen.Initiation("newcomer"))
	waitFor(t, "the newcomer", 10*time.Second, func() (bool, string) {
		for _, r := range ls.st.Routers() {
			if r.Address == "127.0.3.1" && r.SysName == "newcomer" {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(ls.st.Routers()))
	})
	if n := len(ls.st.Routers()); n != 100 {
		t.Fatalf("%d routers after eviction, want 100", n)
	}
	c.Close()
	waitFor(t, "the newcomer gone", 10*time.Second, func() (bool, string) {
		return metric(ls.st, "anydiag_bmp_routers_connected") == 0, ""
	})
	if r, _ := ls.st.Expire(); r != 0 {
		t.Fatalf("expired %d routers before router_ttl", r)
	}
	ls.clock.Add(time.Hour)
	if r, _ := ls.st.Expire(); r != 100 || len(ls.st.Routers()) != 0 {
		t.Fatalf("expired %d, %d left", r, len(ls.st.Routers()))
	}
}

// TestLimitConnectionsPerSource: ten connections from one address; two are
// kept, eight closed at once and counted.
func TestLimitConnectionsPerSource(t *testing.T) {
	ls := startLimited(t, bmp.Limits{})
	closed := make(chan int, 10)
	for i := 0; i < 10; i++ {
		c := dialFrom(t, "127.0.4.1", ls.port)
		go func() {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				closed <- i
			}
		}()
	}
	for n := 0; n < 8; n++ {
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of 8 excess connections closed", n)
		}
	}
	waitFor(t, "8 hits", 10*time.Second, func() (bool, string) {
		return hits(ls.st, "max_connections_per_source") == 8, fmt.Sprint(hits(ls.st, "max_connections_per_source"))
	})
	if !hasFinding(ls.st, "max_connections_per_source") {
		t.Fatal("no finding")
	}
}

// TestLimitAllowRouters: only the allowed address gets a session.
func TestLimitAllowRouters(t *testing.T) {
	ls := startLimited(t, bmp.Limits{AllowRouters: []bmp.AddrOrPrefix{{Prefix: netip.MustParsePrefix("127.0.5.1/32")}}})
	bad := dialFrom(t, "127.0.5.2", ls.port)
	bad.Write(gen.Initiation("intruder"))
	expectClosed(t, bad, "a router outside allow_routers")
	good := dialFrom(t, "127.0.5.1", ls.port)
	good.Write(gen.Initiation("allowed"))
	waitFor(t, "the allowed router", 10*time.Second, func() (bool, string) {
		rs := ls.st.Routers()
		return len(rs) == 1 && rs[0].SysName == "allowed", fmt.Sprint(rs)
	})
	if hits(ls.st, "allow_routers") != 1 || !hasFinding(ls.st, "allow_routers") {
		t.Fatalf("hits %v, findings %+v", hits(ls.st, "allow_routers"), ls.st.Findings())
	}
}

func peerN(i int) gen.Peer {
	return gen.Peer{Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), AS: 64512 + uint32(i%1000)}
}

// TestLimitPeersPerRouter: 10 000 Peer Ups against a cap of 1 000: the
// station keeps 1 000, counts 9 000 drops, keeps the session; the memory
// held is reported, and comes back when the peers go down and expire.
func TestLimitPeersPerRouter(t *testing.T) {
	ls := startLimited(t, bmp.Limits{MaxPeersPerRouter: 1000})
	before := heapMB()
	c := dialFrom(t, "127.0.6.1", ls.port)
	var stream bytes.Buffer
	stream.Write(gen.Initiation("peer-flood"))
	for i := 0; i < 10_000; i++ {
		stream.Write(gen.PeerUp(peerN(i), false))
	}
	if _, err := c.Write(stream.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "9000 drops", 20*time.Second, func() (bool, string) {
		return hits(ls.st, "max_peers_per_router") == 9000, fmt.Sprint(hits(ls.st, "max_peers_per_router"))
	})
	if n := len(ls.st.Peers()); n != 1000 {
		t.Fatalf("%d peers, want 1000", n)
	}
	during := heapMB()
	if !hasFinding(ls.st, "max_peers_per_router") {
		t.Fatal("no finding")
	}
	// The session stays: a Peer Down of a kept peer applies.
	stream.Reset()
	for i := 0; i < 1000; i++ {
		stream.Write(gen.PeerDown(peerN(i)))
	}
	c.Write(stream.Bytes())
	waitFor(t, "1000 peers down", 20*time.Second, func() (bool, string) {
		down := 0
		for _, p := range ls.st.Peers() {
			if p.State == "down" {
				down++
			}
		}
		return down == 1000, fmt.Sprint(down)
	})
	ls.clock.Add(61 * time.Minute)
	if _, p := ls.st.Expire(); p != 1000 {
		t.Fatalf("expired %d peers, want 1000", p)
	}
	c.Close()
	after := heapMB()
	t.Logf("heap: %.1f MB before, %.1f MB with 1000 peers kept of 10000 Peer Ups, %.1f MB after they went down and expired", before, during, after)
	if during-before > 20 {
		t.Fatalf("heap grew by %.1f MB for 1000 peers", during-before)
	}
}

// TestLimitRoutesPerPeer: 200 000 ADD-PATH paths for 0.0.0.0/0 against a
// cap of 50 000 per peer: 50 000 are stored, 150 000 dropped and counted,
// and the memory comes back when the session closes. A second router's
// two peers hit the per-router cap.
func TestLimitRoutesPerPeer(t *testing.T) {
	ls := startLimited(t, bmp.Limits{MaxRoutesPerPeer: 50_000, MaxRoutesPerRouter: 60_000})
	before := heapMB()
	p := gen.Peer{Addr: netip.MustParseAddr("10.0.0.1"), AS: 64512}
	var stream bytes.Buffer
	stream.Write(gen.Initiation("addpath-flood"))
	stream.Write(gen.PeerUp(p, true))
	dflt := netip.MustParsePrefix("0.0.0.0/0")
	const perMsg = 10_000
	nlri := make([]netip.Prefix, perMsg)
	ids := make([]uint32, perMsg)
	for i := range nlri {
		nlri[i] = dflt
	}
	for first := 0; first < 200_000; first += perMsg {
		for i := range ids {
			ids[i] = uint32(first + i + 1)
		}
		stream.Write(gen.Routes(p, nlri, ids))
	}
	c := dialFrom(t, "127.0.7.1", ls.port)
	if _, err := c.Write(stream.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "150 000 drops", 30*time.Second, func() (bool, string) {
		return hits(ls.st, "max_routes_per_peer") == 150_000, fmt.Sprint(hits(ls.st, "max_routes_per_peer"))
	})
	if n := routesOf(ls.st, "127.0.7.1"); n != 50_000 {
		t.Fatalf("%d paths stored, want 50000", n)
	}
	if !hasFinding(ls.st, "max_routes_per_peer") {
		t.Fatal("no finding")
	}
	during := heapMB()
	c.Close()
	waitFor(t, "the session's routes flushed", 20*time.Second, func() (bool, string) {
		return routesOf(ls.st, "127.0.7.1") == 0, ""
	})
	after := heapMB()
	t.Logf("heap: %.1f MB before, %.1f MB holding 50000 of 200000 paths, %.1f MB after the session closed", before, during, after)
	if after-before > 5 {
		t.Errorf("heap %.1f MB above the start after the session closed", after-before)
	}

	// Per router: two peers of 40 000 distinct prefixes each, cap 60 000.
	stream.Reset()
	stream.Write(gen.Initiation("two-peers"))
	for pi := 0; pi < 2; pi++ {
		pp := gen.Peer{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(pi + 1)}), AS: 64600}
		stream.Write(gen.PeerUp(pp, false))
		var batch []netip.Prefix
		for i := 0; i < 40_000; i++ {
			batch = append(batch, netip.PrefixFrom(netip.AddrFrom4([4]byte{20, byte(i >> 8), byte(i), 0}), 24))
			if len(batch) == 1000 {
				stream.Write(gen.Routes(pp, batch, nil))
				batch = batch[:0]
			}
		}
	}
	c2 := dialFrom(t, "127.0.7.2", ls.port)
	c2.Write(stream.Bytes())
	waitFor(t, "20 000 drops at the router cap", 30*time.Second, func() (bool, string) {
		return hits(ls.st, "max_routes_per_router") == 20_000, fmt.Sprint(hits(ls.st, "max_routes_per_router"))
	})
	if n := routesOf(ls.st, "127.0.7.2"); n != 60_000 {
		t.Fatalf("%d routes, want 60000", n)
	}
}

// TestLimitIdleTimeout: with a 300 ms idle timeout, a sender that trickles
// one byte every 20 ms never completes a message and is cut off, as is a
// connection that never sends its first message, and a router that reports
// statistics every 100 ms (by the station's clock) and then falls silent.
// A router that sent its Initiation and has nothing more to say (no
// statistics: GoBGP's and FRR's default) is left alone.
func TestLimitIdleTimeout(t *testing.T) {
	ls := startLimited(t, bmp.Limits{IdleTimeout: yamlconf.Duration(300 * time.Millisecond)})
	quiet := dialFrom(t, "127.0.8.3", ls.port)
	quiet.Write(gen.Initiation("quiet"))
	waitFor(t, "the quiet router", 10*time.Second, func() (bool, string) { return len(ls.st.Routers()) == 1, "" })

	stats := dialFrom(t, "127.0.8.4", ls.port)
	p := peerN(1)
	stats.Write(append(gen.Initiation("stats"), gen.PeerUp(p, false)...))
	report := gen.Message(1, gen.PeerHeader(p), []byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0})
	stats.Write(report)
	waitFor(t, "the first statistics report", 10*time.Second, func() (bool, string) {
		v := metric(ls.st, `anydiag_bmp_messages_total{router="127.0.8.4",type="statistics_report"}`)
		return v == 1, fmt.Sprint(v)
	})
	ls.clock.Add(100 * time.Millisecond)
	stats.Write(report)
	expectClosed(t, stats, "a router silent for 3 statistics intervals")

	slow := dialFrom(t, "127.0.8.1", ls.port)
	msg := gen.Initiation("slowloris")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(msg) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := slow.Write(msg[i : i+1]); err != nil {
				return
			}
		}
	}()
	silent := dialFrom(t, "127.0.8.2", ls.port)
	expectClosed(t, silent, "a silent sender")
	expectClosed(t, slow, "a byte-trickling sender")
	waitFor(t, "three sessions closed idle", 20*time.Second, func() (bool, string) {
		v := metric(ls.st, `anydiag_bmp_sessions_closed_total{reason="idle_timeout"}`)
		return v == 3, fmt.Sprint(v)
	})
	if hits(ls.st, "idle_timeout") != 3 || !hasFinding(ls.st, "idle_timeout") {
		t.Fatalf("hits %v", hits(ls.st, "idle_timeout"))
	}
	// The trickler was cut more than 300 ms after it started, itself after
	// the quiet router's Initiation: the quiet router has been silent longer
	// than the idle timeout, and stays.
	for _, r := range ls.st.Routers() {
		if r.SysName == "quiet" && !r.Connected {
			t.Fatal("the quiet router was cut off")
		}
	}
	if v := metric(ls.st, "anydiag_bmp_routers_connected"); v != 1 {
		t.Fatalf("%v routers connected, want the quiet one", v)
	}
}

// TestReplacementNeedsInitiation: a second connection from a live router's
// address that does not begin with an Initiation is closed and the router's
// routes stay; one that does replaces the old session.
func TestReplacementNeedsInitiation(t *testing.T) {
	// Four: the stray session's slot is given back only after its client
	// has seen the close, and the quiet and fresh ones follow at once.
	ls := startLimited(t, bmp.Limits{MaxConnectionsPerSource: 4})
	p := gen.Peer{Addr: netip.MustParseAddr("10.0.0.1"), AS: 64512}
	routes := func(n int) []byte {
		var b bytes.Buffer
		b.Write(gen.PeerUp(p, false))
		var batch []netip.Prefix
		for i := 0; i < n; i++ {
			batch = append(batch, netip.PrefixFrom(netip.AddrFrom4([4]byte{30, 0, byte(i), 0}), 24))
		}
		b.Write(gen.Routes(p, batch, nil))
		return b.Bytes()
	}
	old := dialFrom(t, "127.0.9.1", ls.port)
	old.Write(append(gen.Initiation("r9"), routes(100)...))
	waitFor(t, "100 routes", 10*time.Second, func() (bool, string) {
		return routesOf(ls.st, "127.0.9.1") == 100, ""
	})
	// A hijacker (or a confused second session) without an Initiation.
	stray := dialFrom(t, "127.0.9.1", ls.port)
	stray.Write(routes(5))
	expectClosed(t, stray, "a session without Initiation")
	if n := routesOf(ls.st, "127.0.9.1"); n != 100 {
		t.Fatalf("the stray session changed the router's routes: %d", n)
	}
	if hits(ls.st, "no_initiation") != 1 {
		t.Fatalf("no_initiation hits %v", hits(ls.st, "no_initiation"))
	}
	// A session that sends nothing yet leaves the old one alone.
	quiet := dialFrom(t, "127.0.9.1", ls.port)
	// The real reconnection.
	fresh := dialFrom(t, "127.0.9.1", ls.port)
	fresh.Write(append(gen.Initiation("r9"), routes(10)...))
	expectClosed(t, old, "the replaced session")
	waitFor(t, "the new session's 10 routes", 10*time.Second, func() (bool, string) {
		return routesOf(ls.st, "127.0.9.1") == 10, fmt.Sprint(routesOf(ls.st, "127.0.9.1"))
	})
	if v := metric(ls.st, `anydiag_bmp_sessions_closed_total{reason="replaced"}`); v != 1 {
		t.Fatalf("replaced %v", v)
	}
	quiet.Close()
}

// TestExpiry: down peers and disconnected routers go after their TTLs, by
// the injected clock, and not before.
func TestExpiry(t *testing.T) {
	clk := newFakeClock()
	st, err := bmp.New(bmp.Config{Logger: testLogger(), Clock: clk.Now, Limits: bmp.Limits{
		PeerTTL: yamlconf.Duration(10 * time.Minute), RouterTTL: yamlconf.Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- st.Ingest(context.Background(), "r1", pr, nil) }()
	p1, p2 := peerN(1), peerN(2)
	pw.Write(gen.Initiation("r1"))
	pw.Write(gen.PeerUp(p1, false))
	pw.Write(gen.PeerUp(p2, false))
	pw.Write(gen.PeerDown(p1))
	waitFor(t, "two peers, one down", 10*time.Second, func() (bool, string) {
		return len(st.Peers()) == 2 && st.Peers()[0].State == "down", fmt.Sprint(st.Peers())
	})
	tests := []struct {
		advance        time.Duration
		routers, peers int
		left           int
	}{
		{9 * time.Minute, 0, 0, 2},
		{2 * time.Minute, 0, 1, 1},
	}
	for _, tc := range tests {
		clk.Add(tc.advance)
		r, p := st.Expire()
		if r != tc.routers || p != tc.peers || len(st.Peers()) != tc.left {
			t.Fatalf("+%s: expired %d routers %d peers, %d peers left", tc.advance, r, p, len(st.Peers()))
		}
	}
	// The expired peer may come back in the same session.
	pw.Write(gen.PeerUp(p1, false))
	waitFor(t, "the peer back", 10*time.Second, func() (bool, string) { return len(st.Peers()) == 2, "" })
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Minute)
	if r, _ := st.Expire(); r != 0 {
		t.Fatal("router expired early")
	}
	clk.Add(2 * time.Minute)
	if r, _ := st.Expire(); r != 1 || len(st.Routers()) != 0 {
		t.Fatalf("router not expired: %d, %+v", r, st.Routers())
	}
	// One peer expired while the session ran, two after it ended.
	if v := metric(st, `anydiag_bmp_expired_total{what="peer"}`); v != 3 {
		t.Fatalf("expired peers metric %v", v)
	}
}
