package bmp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
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
// returns "router peer table prefix" → AS path, plus the peer downs.
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
		switch m["bmp_msg_type"] {
		case "peer_down":
			downs++
			for k := range state {
				if strings.HasPrefix(k, router+" "+peer+" ") {
					delete(state, k)
				}
			}
		case "route_monitor":
			if m["safi"] != 1.0 {
				continue
			}
			k := fmt.Sprintf("%s %s %s %s", router, peer, pmacctTables[m["bmp_rib_type"].(string)], m["ip_prefix"])
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
				got[fmt.Sprintf("%s %s %s %s", routerOf[r.Router], r.PeerAddress, r.Table, r.Prefix)] = strings.Join(path, " ")
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
