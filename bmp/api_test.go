package bmp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/internal/gen"
	"github.com/anydiag/anydiag/internal/serve"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// ingested returns a station holding stream, read through Ingest from a
// pipe that stays open (so the routes stay) until the test ends.
func ingested(t *testing.T, lim bmp.Limits, stream []byte, wantMsgs int) *bmp.Station {
	t.Helper()
	st, err := bmp.New(bmp.Config{Logger: testLogger(), Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- st.Ingest(context.Background(), "127.0.0.1", pr, nil) }()
	go pw.Write(stream)
	t.Cleanup(func() {
		pw.Close()
		<-done
	})
	waitFor(t, "the stream applied", 60*time.Second, func() (bool, string) {
		n := 0
		for _, r := range st.Routers() {
			n += int(r.Messages)
		}
		return n == wantMsgs, fmt.Sprintf("%d of %d messages", n, wantMsgs)
	})
	return st
}

func routeKey(r bmp.RouteInfo) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%d", r.Router, r.PeerType, r.PeerDistinguisher, r.PeerAddress, r.Table, r.Prefix, r.PathID)
}

// TestRoutesPagination: following the cursor gives every route exactly
// once, whatever the page size; bad cursors and limits are refused.
func TestRoutesPagination(t *testing.T) {
	stream, gs := feed(t, gen.Config{IPv4Routes: 20_000, IPv6Routes: 5_000, Peers: 3, Seed: 7})
	st := ingested(t, bmp.Limits{}, stream, gs.Messages)
	want := map[string]bool{}
	st.Routes(bmp.RouteQuery{}, func(r bmp.RouteInfo) error { want[routeKey(r)] = true; return nil })
	if len(want) != gs.Routes {
		t.Fatalf("station holds %d routes, generated %d", len(want), gs.Routes)
	}
	hs := httptest.NewServer(st.Handler())
	defer hs.Close()
	for _, size := range []int{0, 1000, 7777, 100_000} {
		t.Run(fmt.Sprint("page ", size), func(t *testing.T) {
			cl := &bmp.Client{BaseURL: hs.URL, PageSize: size}
			pages := 0
			got := map[string]bool{}
			err := cl.EachRoutes(context.Background(), bmp.RouteQuery{}, func(rows []bmp.RouteInfo) error {
				pages++
				for _, r := range rows {
					k := routeKey(r)
					if got[k] {
						return fmt.Errorf("route %s twice", k)
					}
					got[k] = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d routes in %d pages, want %d", len(got), pages, len(want))
			}
			for k := range want {
				if !got[k] {
					t.Fatalf("missing %s", k)
				}
			}
			t.Logf("%d routes in %d pages", len(got), pages)
		})
	}

	resp, err := http.Get(hs.URL + "/api/v1/bmp/routes?limit=1000&table=adj-rib-in-pre")
	if err != nil {
		t.Fatal(err)
	}
	var rows []bmp.RouteInfo
	json.NewDecoder(resp.Body).Decode(&rows)
	resp.Body.Close()
	next := resp.Header.Get(bmp.NextCursorHeader)
	if len(rows) != 1000 || next == "" || !strings.Contains(resp.Header.Get("Link"), "cursor="+next) ||
		!strings.Contains(resp.Header.Get("Link"), "table=adj-rib-in-pre") {
		t.Fatalf("%d rows, cursor %q, link %q", len(rows), next, resp.Header.Get("Link"))
	}
	peersResp, err := http.Get(hs.URL + "/api/v1/bmp/peers?limit=1")
	if err != nil {
		t.Fatal(err)
	}
	peersResp.Body.Close()
	peerCursor := peersResp.Header.Get(bmp.NextCursorHeader)
	bad := []struct{ query, want string }{
		{"cursor=garbage!", "not one this station gave out"},
		{"cursor=" + peerCursor, "other list"},
		{"limit=0", "want 1 to 100000"},
		{"limit=100001", "want 1 to 100000"},
		{"distinguisher=65000", "distinguisher"},
		{"peer_type=vpn", "peer_type"},
	}
	for _, tc := range bad {
		resp, err := http.Get(hs.URL + "/api/v1/bmp/routes?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %s %s", tc.query, resp.Status, b)
		}
	}
}

// TestPeersPagination100k: 100 000 peers come in pages of the default
// 10 000 rows, each answer a bounded size, and the client gets them all.
func TestPeersPagination100k(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(gen.Initiation("route-server"))
	for i := 0; i < 100_000; i++ {
		stream.Write(gen.PeerUp(peerN(i), false))
	}
	st := ingested(t, bmp.Limits{MaxPeersPerRouter: -1}, stream.Bytes(), 100_001)
	hs := httptest.NewServer(st.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/v1/bmp/peers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page []bmp.PeerInfo
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page) != 10_000 || resp.Header.Get(bmp.NextCursorHeader) == "" {
		t.Fatalf("first page: %d rows, cursor %q", len(page), resp.Header.Get(bmp.NextCursorHeader))
	}
	t.Logf("first page of /peers: %d rows, %d bytes", len(page), len(body))
	peers, err := (&bmp.Client{BaseURL: hs.URL}).Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range peers {
		seen[p.PeerAddress+"|"+p.Table] = true
	}
	if len(peers) != 100_000 || len(seen) != 100_000 {
		t.Fatalf("%d peers, %d distinct", len(peers), len(seen))
	}
}

// TestSlowAPIClients: 50 clients ask for the biggest page of routes and
// never read. The station builds at most api_max_concurrent answers at a
// time, cuts each reader off after api_write_timeout, turns the waiting
// ones away, and its heap stays bounded meanwhile.
func TestSlowAPIClients(t *testing.T) {
	stream, gs := feed(t, gen.Config{IPv4Routes: 150_000, Peers: 1, Seed: 9})
	lim := bmp.Limits{APIWriteTimeout: yamlconf.Duration(500 * time.Millisecond), APIMaxConcurrent: 4}
	st := ingested(t, lim, stream, gs.Messages)
	stream = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := serve.DefaultLimits()
	hs := serve.New(st.Handler(), sl)
	go hs.Serve(serve.Listen(ln, sl))
	defer hs.Close()

	base := heapMB()
	const clients = 50
	var conns []net.Conn
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /api/v1/bmp/routes?limit=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	peak := 0.0
	waitFor(t, "every client cut off or turned away", 60*time.Second, func() (bool, string) {
		peak = max(peak, heapMB())
		slow, busy := metric(st, "anydiag_bmp_api_slow_clients_total"), metric(st, "anydiag_bmp_api_busy_total")
		return slow+busy == clients, fmt.Sprintf("%v cut off, %v turned away", slow, busy)
	})
	after := heapMB()
	slow, busy := metric(st, "anydiag_bmp_api_slow_clients_total"), metric(st, "anydiag_bmp_api_busy_total")
	t.Logf("heap: %.1f MB with 150000 routes, peak %.1f MB with %d clients that never read, %.1f MB after (%v cut off by the write timeout, %v answered 503)",
		base, peak, clients, after, slow, busy)
	// Four answers of 100 000 rows at once, 40 bytes a row (4 MB each),
	// plus decoding and encoding buffers.
	if peak-base > 60 {
		t.Errorf("heap grew by %.1f MB", peak-base)
	}
	if slow < 4 {
		t.Errorf("only %v clients were cut off by the write timeout", slow)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var head [16]byte
		io.ReadFull(c, head[:])
		n, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("client %d still connected after %d bytes of %q", i, n, head)
		}
	}
}
