package bmp_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/internal/gen"
)

// dialFrom connects to the station from a given loopback address, so that
// each test router has its own identity.
func dialFrom(t *testing.T, src string, port int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }

func feed(t *testing.T, cfg gen.Config) ([]byte, gen.Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := gen.Write(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func routesOf(st *bmp.Station, router string) int {
	n := 0
	for _, p := range st.Peers() {
		if p.Router == router {
			n += p.Routes
		}
	}
	return n
}

// TestBadRouterDoesNotDisturbOthers: each malformed stream closes only its
// own session, with its reason counted, while a good router's table stays.
func TestBadRouterDoesNotDisturbOthers(t *testing.T) {
	st, client, port := startStation(t)
	good, gs := feed(t, gen.Config{IPv4Routes: 5000, IPv6Routes: 1000, Peers: 2, Seed: 3})
	c := dialFrom(t, "127.0.0.5", port)
	if _, err := c.Write(good); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the good router's routes", 20*time.Second, func() (bool, string) {
		return routesOf(st, "127.0.0.5") == gs.Routes, itoa(routesOf(st, "127.0.0.5"))
	})

	bad := []struct {
		name, src, reason string
		stream            []byte
	}{
		{"zero length", "127.0.0.6", "short_length", []byte{3, 0, 0, 0, 0, 0}},
		{"wrong version", "127.0.0.7", "bad_version", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"too large", "127.0.0.8", "too_large", []byte{3, 1, 0, 0, 0, 0}},
		{"garbage peer up", "127.0.0.9", "bad_message", append([]byte{3, 0, 0, 0, 60, 3}, make([]byte, 54)...)},
		// A route monitoring message whose UPDATE says it is longer than it is.
		{"truncated update", "127.0.0.10", "bad_message", append(append([]byte{3, 0, 0, 0, 71, 0}, make([]byte, 42)...),
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 40, 2, 0, 0, 0, 20)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, tc.src, port)
			c.Write(tc.stream)
			// The station closes the session: the read sees EOF.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("session still open")
			}
			waitFor(t, "the closed-session metric", 10*time.Second, func() (bool, string) {
				m := metricsText(t, client.BaseURL)
				return strings.Contains(m, `anydiag_bmp_sessions_closed_total{reason="`+tc.reason+`"}`), grepLines(m, "sessions_closed")
			})
		})
	}
	if n := routesOf(st, "127.0.0.5"); n != gs.Routes {
		t.Fatalf("good router has %d routes after the bad ones, want %d", n, gs.Routes)
	}
	// The good session is still open and still applies messages.
	down := []byte{3, 0, 0, 0, 49, 2}
	hdr := make([]byte, 42)
	copy(hdr[22:26], []byte{192, 0, 2, 1})
	down = append(append(down, hdr...), 4)
	if _, err := c.Write(down); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "peer 192.0.2.1 down", 10*time.Second, func() (bool, string) {
		for _, p := range st.Peers() {
			if p.Router == "127.0.0.5" && p.PeerAddress == "192.0.2.1" {
				return p.State == "down" && p.Routes == 0 && strings.Contains(p.LastDownReason, "remote system closed the session without a NOTIFICATION"), p.LastDownReason
			}
		}
		return false, "no peer"
	})
	if routesOf(st, "127.0.0.5") == 0 {
		t.Fatalf("the other peer's routes were flushed too")
	}
}

// TestSlowSubscriberNeverStallsIngest: a subscriber that never reads loses
// events (counted) and the station still stores every route.
func TestSlowSubscriberNeverStallsIngest(t *testing.T) {
	st, _, port := startStation(t)
	_, cancel := st.Subscribe(16)
	defer cancel()
	data, gs := feed(t, gen.Config{IPv4Routes: 20000, IPv6Routes: 2000, Peers: 4, Seed: 4})
	c := dialFrom(t, "127.0.0.11", port)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every route despite the stuck subscriber", 30*time.Second, func() (bool, string) {
		return routesOf(st, "127.0.0.11") == gs.Routes, itoa(routesOf(st, "127.0.0.11"))
	})
	if st.EventsDropped() < uint64(gs.Routes-16) {
		t.Fatalf("dropped %d events, want at least %d", st.EventsDropped(), gs.Routes-16)
	}
}

// TestMetricsPassPromtool checks /metrics with promtool after a feed.
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	st, client, port := startStation(t)
	data, gs := feed(t, gen.Config{IPv4Routes: 100, IPv6Routes: 10, Peers: 2, Seed: 5})
	c := dialFrom(t, "127.0.0.12", port)
	c.Write(data)
	waitFor(t, "routes", 10*time.Second, func() (bool, string) { return routesOf(st, "127.0.0.12") == gs.Routes, "" })
	m := metricsText(t, client.BaseURL)
	cmd := exec.CommandContext(context.Background(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(m)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, m)
	}
	for _, want := range []string{"anydiag_bmp_messages_total{", "anydiag_bmp_routes{", "anydiag_bmp_events_dropped_total", "anydiag_bmp_addpath_missing_total{"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
