package bmp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/internal/gen"
	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"go.yaml.in/yaml/v3"
)

const vendorDir = "../../shared/fixtures/bmp-vendor"

// bmpPayloads reassembles, per TCP flow toward one of ports, the payload in
// sequence order (retransmitted bytes dropped).
func bmpPayloads(t *testing.T, pcapPath string, ports []int) map[string][]byte {
	t.Helper()
	f, err := os.Open(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", pcapPath, err)
	}
	want := map[layers.TCPPort]bool{}
	for _, p := range ports {
		want[layers.TCPPort(p)] = true
	}
	type segment struct {
		seq     uint32
		payload []byte
	}
	segs := map[string][]segment{}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", pcapPath, err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !want[tcp.DstPort] || pkt.NetworkLayer() == nil || len(tcp.Payload) == 0 {
			continue
		}
		flow := pkt.NetworkLayer().NetworkFlow().Src().String() + ":" + tcp.SrcPort.String()
		segs[flow] = append(segs[flow], segment{tcp.Seq, tcp.Payload})
	}
	out := map[string][]byte{}
	for flow, ss := range segs {
		// Captures are not always in sequence order; sequence numbers of one
		// short session do not wrap.
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].seq < ss[j].seq })
		next := ss[0].seq
		for _, sg := range ss {
			p := sg.payload
			if d := int64(next) - int64(sg.seq); d > 0 {
				if d >= int64(len(p)) {
					continue
				}
				p = p[d:]
			} else if d < 0 {
				t.Fatalf("%s: flow %s: %d bytes missing at seq %d", pcapPath, flow, -d, next)
			}
			out[flow] = append(out[flow], p...)
			next += uint32(len(p))
		}
	}
	return out
}

func dports(t *testing.T, yml string) []int {
	t.Helper()
	b, err := os.ReadFile(yml)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		BMP struct {
			Select struct {
				TCP struct {
					Dport []int `yaml:"dport"`
				} `yaml:"tcp"`
			} `yaml:"select"`
		} `yaml:"bmp"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", yml, err)
	}
	return c.BMP.Select.TCP.Dport
}

var pmacctTables = map[string]string{
	"Adj-Rib-In Pre-Policy": "adj-rib-in-pre", "Adj-Rib-In Post-Policy": "adj-rib-in-post",
	"Adj-Rib-Out Pre-Policy": "adj-rib-out-pre", "Adj-Rib-Out Post-Policy": "adj-rib-out-post", "Loc-Rib": "loc-rib",
}

// pmacctState replays pmacct's message log for unicast IPv4/IPv6 routes and
// returns "router peer distinguisher table prefix" → AS path, plus the peer
// downs. The distinguisher is the peer header's (rd_origin "bmp"), empty
// for global peers.
func pmacctState(t *testing.T, path string) (map[string]string, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	state := map[string]string{}
	sysName := map[string]string{}
	downs := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		router, _ := m["bmp_router"].(string)
		if n, ok := m["bmp_init_info_sysname"].(string); ok {
			sysName[router] = n
		}
		router = sysName[router]
		peer, _ := m["peer_ip"].(string)
		rd := ""
		if m["rd_origin"] == "bmp" {
			rd, _ = m["rd"].(string)
		}
		switch m["bmp_msg_type"] {
		case "peer_down":
			downs++
			for k := range state {
				if strings.HasPrefix(k, router+" "+peer+" "+rd+" ") {
					delete(state, k)
				}
			}
		case "route_monitor":
			if m["safi"] != 1.0 {
				continue
			}
			k := fmt.Sprintf("%s %s %s %s %s", router, peer, rd, pmacctTables[m["bmp_rib_type"].(string)], m["ip_prefix"])
			switch m["log_type"] {
			case "update":
				state[k] = pmacctPath(m["as_path"])
			case "withdraw":
				delete(state, k)
			}
		}
	}
	return state, downs
}

func pmacctPath(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		s := make([]string, len(v))
		for i, a := range v {
			s[i] = fmt.Sprint(a)
		}
		return strings.Join(s, " ")
	}
	return ""
}

// TestVendorCaptures feeds real routers' BMP captures (Cisco IOS XR, Huawei,
// 6WIND) to the station and compares its IPv4/IPv6 unicast tables and peer
// downs with pmacct's decoding of the same bytes.
func TestVendorCaptures(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(vendorDir, "2*"))
	if len(dirs) == 0 {
		t.Skipf("no BMP captures in %s (the shared fixtures folder is absent)", vendorDir)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			st, err := bmp.New(bmp.Config{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			events, cancelEvents := st.Subscribe(1 << 16)
			defer cancelEvents()
			pcaps, _ := filepath.Glob(filepath.Join(dir, "traffic-*.pcap"))
			var writers []*io.PipeWriter
			done := make(chan error, 16)
			total := 0
			for i, pc := range pcaps {
				yml := strings.Replace(strings.TrimSuffix(pc, ".pcap"), "traffic-", "traffic-reproducer-", 1) + ".yml"
				flows := bmpPayloads(t, pc, dports(t, yml))
				if len(flows) == 0 {
					t.Fatalf("%s: no BMP payload", pc)
				}
				for _, data := range flows {
					n, whole := countMessages(t, data)
					if whole < len(data) {
						// The capture stops inside a message; pmacct never
						// saw its end either. Feed the whole messages only,
						// or the station rightly closes the session and
						// flushes the router.
						t.Logf("%s: capture ends %d bytes into message %d; feeding the %d whole ones", pc, len(data)-whole, n+1, n)
						data = data[:whole]
					}
					total += n
					// Routers are matched with pmacct's by sysName: pmacct
					// saw them at other addresses.
					name := fmt.Sprintf("router-%d", i)
					pr, pw := io.Pipe()
					writers = append(writers, pw)
					go func() { done <- st.Ingest(context.Background(), name, pr, nil) }()
					go func() { pw.Write(data) }()
				}
			}
			waitFor(t, "every message applied", 20*time.Second, func() (bool, string) {
				n := 0
				for _, r := range st.Routers() {
					n += int(r.Messages)
				}
				return n == total, fmt.Sprintf("%d of %d", n, total)
			})
			routerOf := map[string]string{}
			for _, r := range st.Routers() {
				routerOf[r.Address] = r.SysName
			}
			got := map[string]string{}
			st.Routes(bmp.RouteQuery{}, func(r bmp.RouteInfo) error {
				path := make([]string, len(r.ASPath))
				for i, a := range r.ASPath {
					path[i] = fmt.Sprint(a)
				}
				rd := r.PeerDistinguisher
				if rd == "0:0:0" {
					// pmacct prints no zero distinguisher.
					rd = ""
				}
				got[fmt.Sprintf("%s %s %s %s %s", routerOf[r.Router], r.PeerAddress, rd, r.Table, r.Prefix)] = strings.Join(path, " ")
				return nil
			})
			downs := 0
		drain:
			for {
				select {
				case e := <-events:
					if e.Kind == bmp.PeerDown {
						downs++
						if e.Reason == "" {
							t.Errorf("peer down without reason: %+v", e)
						}
					}
				default:
					break drain
				}
			}
			for _, w := range writers {
				w.Close()
			}
			for range writers {
				if err := <-done; err != nil {
					t.Errorf("session: %v", err)
				}
			}
			want, wantDowns := pmacctState(t, filepath.Join(dir, "output-bmp-00.json"))
			if downs != wantDowns {
				t.Errorf("peer downs: %d, pmacct %d", downs, wantDowns)
			}
			var diffs []string
			for k, v := range want {
				if g, ok := got[k]; !ok {
					diffs = append(diffs, "missing "+k+" path "+v)
				} else if g != v {
					diffs = append(diffs, fmt.Sprintf("differs %s: station %q, pmacct %q", k, g, v))
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					diffs = append(diffs, "extra "+k)
				}
			}
			sort.Strings(diffs)
			if len(diffs) > 0 {
				t.Errorf("%d routes of %d (pmacct %d) differ:\n%s", len(diffs), len(got), len(want), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
			}
			t.Logf("%d unicast routes agree with pmacct, %d peer downs", len(got), downs)
		})
	}
}

// countMessages frames data and returns the number of whole messages and
// the bytes they span.
func countMessages(t *testing.T, data []byte) (int, int) {
	r := wire.NewReader(bytes.NewReader(data), 0)
	n := 0
	for {
		_, err := r.Next()
		var fe *wire.FrameError
		switch {
		case errors.Is(err, io.EOF):
			return n, len(data)
		case errors.As(err, &fe) && fe.Reason == "truncated":
			return n, int(r.Offset())
		case err != nil:
			t.Fatalf("capture framing after %d messages: %v", n, err)
		}
		n++
	}
}

// ingestCapture feeds every BMP flow of a capture folder to a new station
// and returns it once every whole message is applied; the sessions stay
// open until the test ends.
func ingestCapture(t *testing.T, dir string) *bmp.Station {
	t.Helper()
	st, err := bmp.New(bmp.Config{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "traffic-*.pcap"))
	total := 0
	for i, pc := range pcaps {
		yml := strings.Replace(strings.TrimSuffix(pc, ".pcap"), "traffic-", "traffic-reproducer-", 1) + ".yml"
		j := 0
		for _, data := range bmpPayloads(t, pc, dports(t, yml)) {
			n, whole := countMessages(t, data)
			total += n
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			name := fmt.Sprintf("router-%d-%d", i, j)
			go func() { done <- st.Ingest(context.Background(), name, pr, nil) }()
			go pw.Write(data[:whole])
			t.Cleanup(func() {
				pw.Close()
				<-done
			})
			j++
		}
	}
	waitFor(t, "every message applied", 20*time.Second, func() (bool, string) {
		n := 0
		for _, r := range st.Routers() {
			n += int(r.Messages)
		}
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	return st
}

// TestVendorDistinguishers: Cisco's RD instance peers (VRFs) and Huawei's
// Loc-RIB instances carry the same prefixes from the same peer address in
// several VRFs; the API rows tell them apart by peer type and
// distinguisher, and the distinguisher= and peer_type= filters select them.
func TestVendorDistinguishers(t *testing.T) {
	dir := filepath.Join(vendorDir, "201-BMP-CISCO-rd_instance")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no BMP captures in %s (the shared fixtures folder is absent)", vendorDir)
	}
	st := ingestCapture(t, dir)
	hs := httptest.NewServer(st.Handler())
	defer hs.Close()
	cl := &bmp.Client{BaseURL: hs.URL}
	ctx := context.Background()
	all, err := cl.Routes(ctx, bmp.RouteQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byRoute := map[string]map[string]bool{}
	byDist := map[string]int{}
	for _, r := range all {
		k := r.Router + " " + r.PeerAddress + " " + r.Table + " " + r.Prefix
		if byRoute[k] == nil {
			byRoute[k] = map[string]bool{}
		}
		if byRoute[k][r.PeerDistinguisher] {
			t.Fatalf("two rows for %s in %s", k, r.PeerDistinguisher)
		}
		byRoute[k][r.PeerDistinguisher] = true
		byDist[r.PeerDistinguisher]++
		if r.PeerType != "rd" || !strings.HasPrefix(r.PeerDistinguisher, "0:64499:") {
			t.Fatalf("row %+v: want an rd peer with a 0:64499:N distinguisher", r)
		}
	}
	if len(byDist) < 2 {
		t.Fatalf("%d distinguishers: the capture no longer proves anything", len(byDist))
	}
	t.Logf("%d rows in %d VRFs (distinguishers)", len(all), len(byDist))
	for d, n := range byDist {
		rows, err := cl.Routes(ctx, bmp.RouteQuery{Distinguisher: d})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Errorf("distinguisher=%s: %d rows, want %d", d, len(rows), n)
		}
		for _, r := range rows {
			if r.PeerDistinguisher != d {
				t.Fatalf("distinguisher=%s returned %s", d, r.PeerDistinguisher)
			}
		}
	}
	// Routers print RDs without the type; the filter takes that too.
	rows, err := cl.Routes(ctx, bmp.RouteQuery{Distinguisher: "64499:14"})
	if err != nil || len(rows) != byDist["0:64499:14"] || len(rows) == 0 {
		t.Fatalf("distinguisher=64499:14: %d rows, %v", len(rows), err)
	}
	if rows, err := cl.Routes(ctx, bmp.RouteQuery{PeerType: "global"}); err != nil || len(rows) != 0 {
		t.Fatalf("peer_type=global: %d rows, %v", len(rows), err)
	}
	if rows, err := cl.Routes(ctx, bmp.RouteQuery{PeerType: "l3vpn"}); err != nil || len(rows) != len(all) {
		t.Fatalf("peer_type=l3vpn: %d rows, %v", len(rows), err)
	}
	resp, err := http.Get(hs.URL + "/api/v1/bmp/peers?distinguisher=0:64499:14")
	if err != nil {
		t.Fatal(err)
	}
	var peers []bmp.PeerInfo
	json.NewDecoder(resp.Body).Decode(&peers)
	resp.Body.Close()
	if len(peers) == 0 {
		t.Fatal("no peer in 0:64499:14")
	}
	for _, p := range peers {
		if p.PeerDistinguisher != "0:64499:14" || p.PeerType != "rd" {
			t.Fatalf("peer %+v", p)
		}
	}

	// Cisco IOS XR 7.10's Loc-RIB instances: the global one (distinguisher
	// 0) and VRF 2:4226809946:12, both from peer address 0.0.0.0, are two
	// peers of the API.
	st2 := ingestCapture(t, filepath.Join(vendorDir, "204-BMP-CISCO-peer_down"))
	inst := map[string]bool{}
	for _, p := range st2.Peers() {
		if p.PeerType == "loc-rib" {
			inst[p.PeerAddress+" "+p.PeerDistinguisher] = true
		}
	}
	if !inst["0.0.0.0 0:0:0"] || !inst["0.0.0.0 2:4226809946:12"] {
		t.Fatalf("loc-rib instances %v", inst)
	}
	if rows, err := st2Routes(st2, "2:4226809946:12"); err != nil || rows == 0 {
		t.Fatalf("distinguisher=2:4226809946:12: %d rows, %v", rows, err)
	}
}

// TestDistinguishersKeepRoutesApart: the captures hold no prefix in two
// VRFs at once, so a generated stream does: one peer address in two RD
// instances (and a Loc-RIB instance) announcing the same prefixes with
// different AS paths; every (VRF, prefix) is its own row.
func TestDistinguishersKeepRoutesApart(t *testing.T) {
	a := netip.MustParseAddr("198.51.100.7")
	peers := []gen.Peer{
		{Type: 1, Dist: 64499<<32 | 1, Addr: a, AS: 64501},
		{Type: 1, Dist: 2<<48 | 4226809946<<16 | 907, Addr: a, AS: 64502},
		{Type: 3, Dist: 1<<48 | 0xc0000201<<16 | 5, AS: 64503},
	}
	pfx := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("192.0.2.0/24")}
	var stream bytes.Buffer
	stream.Write(gen.Initiation("pe1"))
	for _, p := range peers {
		if p.Type != 3 {
			stream.Write(gen.PeerUp(p, false))
		}
		stream.Write(gen.Routes(p, pfx, nil))
	}
	st := ingested(t, bmp.Limits{}, stream.Bytes(), 1+2*2+1)
	hs := httptest.NewServer(st.Handler())
	defer hs.Close()
	rows, err := (&bmp.Client{BaseURL: hs.URL}).Routes(context.Background(), bmp.RouteQuery{Prefix: pfx[0]})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	for _, r := range rows {
		got[r.PeerType+" "+r.PeerDistinguisher+" "+r.PeerAddress+" "+r.Table] = r.ASPath[0]
	}
	want := map[string]uint32{
		"rd 0:64499:1 198.51.100.7 adj-rib-in-pre":        64501,
		"rd 2:4226809946:907 198.51.100.7 adj-rib-in-pre": 64502,
		"loc-rib 1:192.0.2.1:5 0.0.0.0 loc-rib":           64503,
	}
	if len(got) != len(want) || len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, as := range want {
		if got[k] != as {
			t.Errorf("%s: AS %d, want %d", k, got[k], as)
		}
	}
	for _, q := range []struct {
		q bmp.RouteQuery
		n int
	}{
		{bmp.RouteQuery{Distinguisher: "2:4226809946:907"}, 2},
		{bmp.RouteQuery{Distinguisher: "4226809946:907", Prefix: pfx[1]}, 1},
		{bmp.RouteQuery{PeerType: "rd"}, 4},
		{bmp.RouteQuery{PeerType: "loc-rib"}, 2},
		{bmp.RouteQuery{PeerType: "global"}, 0},
	} {
		n := 0
		if err := st.Routes(q.q, func(bmp.RouteInfo) error { n++; return nil }); err != nil || n != q.n {
			t.Errorf("%+v: %d rows, want %d (%v)", q.q, n, q.n, err)
		}
	}
}

func st2Routes(st *bmp.Station, d string) (int, error) {
	n := 0
	err := st.Routes(bmp.RouteQuery{Distinguisher: d}, func(r bmp.RouteInfo) error {
		if r.PeerDistinguisher != d {
			return fmt.Errorf("row of %s", r.PeerDistinguisher)
		}
		n++
		return nil
	})
	return n, err
}
