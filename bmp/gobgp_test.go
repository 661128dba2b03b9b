package bmp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/gobgptest"
	"github.com/anydiag/anydiag/lab"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// speaker is an embedded GoBGP v3 router on a loopback address.
type speaker = gobgptest.Router

func startSpeaker(t *testing.T, asn uint32, addr string) *speaker {
	return gobgptest.Start(t, asn, addr)
}

var (
	famV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	famV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

type route struct {
	prefix    string
	asPath    []uint32
	comms     []uint32
	large     []*bgp.LargeCommunity
	med       uint32
	withdrawn bool
}

func announce(t *testing.T, sp *speaker, r route) {
	t.Helper()
	pfx := netip.MustParsePrefix(r.prefix)
	var nlri bgp.AddrPrefixInterface
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, r.asPath)}),
		bgp.NewPathAttributeMultiExitDisc(r.med),
	}
	if pfx.Addr().Is4() {
		nlri = bgp.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop("192.0.2.1"))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("2001:db8::1", []bgp.AddrPrefixInterface{nlri}))
	}
	if len(r.comms) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(r.comms))
	}
	if len(r.large) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(r.large))
	}
	p, err := apiutil.NewPath(nlri, r.withdrawn, attrs, time.Now())
	if err != nil {
		t.Fatalf("path %s: %v", r.prefix, err)
	}
	if r.withdrawn {
		err = sp.S.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Path: p})
	} else {
		_, err = sp.S.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	}
	if err != nil {
		t.Fatalf("AS%d: path %s: %v", sp.ASN, r.prefix, err)
	}
}

// key is a route as both sides can print it.
func key(prefix string, pathID uint32, asPath []uint32, comms, large []string) string {
	c := slices.Clone(comms)
	sort.Strings(c)
	l := slices.Clone(large)
	sort.Strings(l)
	return fmt.Sprintf("%s id=%d path=%v comm=%v large=%v", prefix, pathID, asPath, c, l)
}

// gobgpRoutes lists what GoBGP holds: table ADJ_IN of neighbor, or the
// best paths of GLOBAL.
func gobgpRoutes(t *testing.T, sp *speaker, tt api.TableType, neighbor string, withIDs bool) []string {
	t.Helper()
	var out []string
	for _, f := range []*api.Family{famV4, famV6} {
		err := sp.S.ListPath(context.Background(), &api.ListPathRequest{TableType: tt, Name: neighbor, Family: f}, func(d *api.Destination) {
			for _, p := range d.Paths {
				if tt == api.TableType_GLOBAL && !p.Best {
					continue
				}
				attrs, err := apiutil.GetNativePathAttributes(p)
				if err != nil {
					t.Errorf("GoBGP path attributes: %v", err)
					return
				}
				var asPath []uint32
				var comms, large []string
				for _, a := range attrs {
					switch a := a.(type) {
					case *bgp.PathAttributeAsPath:
						for _, seg := range a.Value {
							asPath = append(asPath, seg.GetAS()...)
						}
					case *bgp.PathAttributeCommunities:
						for _, c := range a.Value {
							comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
						}
					case *bgp.PathAttributeLargeCommunities:
						for _, c := range a.Values {
							large = append(large, fmt.Sprintf("%d:%d:%d", c.ASN, c.LocalData1, c.LocalData2))
						}
					}
				}
				id := uint32(0)
				if withIDs {
					id = p.Identifier
				}
				out = append(out, key(d.Prefix, id, asPath, comms, large))
			}
		})
		if err != nil {
			t.Fatalf("GoBGP ListPath %v %s: %v", tt, neighbor, err)
		}
	}
	sort.Strings(out)
	return out
}

func stationRoutes(t *testing.T, c *bmp.Client, q bmp.RouteQuery, withIDs bool) []string {
	t.Helper()
	rs, err := c.Routes(context.Background(), q)
	if err != nil {
		t.Fatalf("station routes: %v", err)
	}
	var out []string
	for _, r := range rs {
		id := r.PathID
		if !withIDs {
			id = 0
		}
		out = append(out, key(r.Prefix, id, r.ASPath, r.Communities, r.LargeCommunities))
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	err := lab.WaitFor(context.Background(), d, 50*time.Millisecond, func() (bool, error) {
		ok, state := cond()
		if ok {
			return true, nil
		}
		return false, errors.New(state)
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func startStation(t *testing.T) (*bmp.Station, *bmp.Client, int) {
	t.Helper()
	st, url, port := serveStation(t, bmp.Config{Logger: slog.New(slog.NewTextHandler(testLogWriter(), nil))})
	return st, &bmp.Client{BaseURL: url}, port
}

// serveStation runs a station of cfg on a loopback BMP port and its HTTP
// API until the test ends, and returns the station, the API URL and the
// BMP port.
func serveStation(t *testing.T, cfg bmp.Config) (*bmp.Station, string, int) {
	t.Helper()
	st, err := bmp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Serve(ctx, ln) }()
	hs := httptest.NewServer(st.Handler())
	t.Cleanup(func() {
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("station: %v", err)
		}
	})
	return st, hs.URL, ln.Addr().(*net.TCPAddr).Port
}

// TestGoBGPSender runs three GoBGP v3 speakers: C (AS65003) and A (AS65001)
// both originate 10.9.0.0/24, A sends both paths to B (AS65002) with
// ADD-PATH, and B streams BMP (pre-policy, post-policy and Loc-RIB) to the
// station. The station's tables must equal what B holds, through
// announcements, an attribute change, a withdrawal and a peer shutdown.
func TestGoBGPSender(t *testing.T) {
	st, client, stPort := startStation(t)
	events, cancelEvents := st.Subscribe(100000)
	defer cancelEvents()

	a := startSpeaker(t, 65001, "127.0.0.2")
	b := startSpeaker(t, 65002, "127.0.0.3")
	c := startSpeaker(t, 65003, "127.0.0.4")
	// BMP first, so that the pre-policy feed carries A's own UPDATEs,
	// End-of-RIB markers included.
	err := b.S.AddBmp(context.Background(), &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(stPort),
		Policy: api.AddBmpRequest_ALL, StatisticsTimeout: 1, SysName: "gobgp-b"})
	if err != nil {
		t.Fatalf("AddBmp: %v", err)
	}
	a.Peer(t, b, gobgptest.PeerOptions{Passive: true, IPv6: true, AddPathSend: true})
	b.Peer(t, a, gobgptest.PeerOptions{IPv6: true, AddPathRecv: true})
	a.Peer(t, c, gobgptest.PeerOptions{Passive: true, IPv6: true})
	c.Peer(t, a, gobgptest.PeerOptions{IPv6: true})

	var routes []route
	for i := 0; i < 40; i++ {
		routes = append(routes, route{prefix: fmt.Sprintf("10.0.%d.0/24", i), asPath: []uint32{64999, 4200000000 + uint32(i)},
			comms: []uint32{65001<<16 | uint32(i), 65001<<16 | 7}, large: []*bgp.LargeCommunity{bgp.NewLargeCommunity(65001, 1, uint32(i))}, med: uint32(i)})
	}
	for i := 0; i < 10; i++ {
		routes = append(routes, route{prefix: fmt.Sprintf("2001:db8:%x::/48", i), asPath: []uint32{64998, uint32(i + 1)}, comms: []uint32{65001<<16 | 6}})
	}
	for _, r := range routes {
		announce(t, a, r)
	}
	announce(t, a, route{prefix: "10.9.0.0/24", asPath: []uint32{64901}})
	announce(t, c, route{prefix: "10.9.0.0/24", asPath: []uint32{64902, 64903}})

	// 41 prefixes from A plus the second 10.9.0.0/24 path via A from C.
	wantPre := len(routes) + 2

	waitFor(t, "B to receive every path from A", 20*time.Second, func() (bool, string) {
		got := gobgpRoutes(t, b, api.TableType_ADJ_IN, "127.0.0.2", true)
		return len(got) == wantPre, fmt.Sprintf("B holds %d paths from A, want %d", len(got), wantPre)
	})
	preQ := bmp.RouteQuery{Peer: netip.MustParseAddr("127.0.0.2"), Table: "adj-rib-in-pre"}
	compare := func(what string) {
		t.Helper()
		waitFor(t, what+": pre-policy equals B's Adj-RIB-In", 15*time.Second, func() (bool, string) {
			got, want := stationRoutes(t, client, preQ, true), gobgpRoutes(t, b, api.TableType_ADJ_IN, "127.0.0.2", true)
			return slices.Equal(got, want), fmt.Sprintf("station %d routes, GoBGP %d\nstation: %v\ngobgp: %v", len(got), len(want), got, want)
		})
		waitFor(t, what+": Loc-RIB equals B's best paths", 15*time.Second, func() (bool, string) {
			got := stationRoutes(t, client, bmp.RouteQuery{Table: "loc-rib"}, false)
			want := gobgpRoutes(t, b, api.TableType_GLOBAL, "", false)
			return slices.Equal(got, want), fmt.Sprintf("station %v\ngobgp %v", got, want)
		})
		// GoBGP v3 sends post-policy without path IDs, so the two paths of
		// 10.9.0.0/24 share one key: compare prefixes.
		waitFor(t, what+": post-policy prefixes equal B's", 15*time.Second, func() (bool, string) {
			rs, err := client.Routes(context.Background(), bmp.RouteQuery{Peer: netip.MustParseAddr("127.0.0.2"), Table: "adj-rib-in-post"})
			if err != nil {
				return false, err.Error()
			}
			got := map[string]bool{}
			for _, r := range rs {
				got[r.Prefix] = true
			}
			want := map[string]bool{}
			for _, k := range gobgpRoutes(t, b, api.TableType_ADJ_IN, "127.0.0.2", false) {
				want[strings.Fields(k)[0]] = true
			}
			return len(got) == len(want) && len(rs) == len(want), fmt.Sprintf("station %d routes %d prefixes, GoBGP %d prefixes", len(rs), len(got), len(want))
		})
	}
	compare("initial dump")

	pre := stationRoutes(t, client, preQ, true)
	if len(pre) != wantPre {
		t.Errorf("pre-policy: %d routes, want %d", len(pre), wantPre)
	}
	ids := map[uint32]bool{}
	rs, _ := client.Routes(context.Background(), bmp.RouteQuery{Prefix: netip.MustParsePrefix("10.9.0.0/24"), Table: "adj-rib-in-pre"})
	for _, r := range rs {
		ids[r.PathID] = true
	}
	if len(ids) != 2 {
		t.Errorf("10.9.0.0/24 pre-policy: path IDs %v, want two distinct (ADD-PATH)", ids)
	}

	// Attribute change, withdrawal.
	announce(t, a, route{prefix: "10.0.3.0/24", asPath: []uint32{64999, 64000, 64001}, comms: []uint32{65001<<16 | 999}})
	announce(t, a, route{prefix: "10.0.4.0/24", asPath: []uint32{64999, 4200000004}, withdrawn: true})
	announce(t, a, route{prefix: "2001:db8:1::/48", asPath: []uint32{64998, 2}, withdrawn: true})
	compare("after change and withdrawal")

	waitFor(t, "a statistics report", 15*time.Second, func() (bool, string) {
		m := metricsText(t, client.BaseURL)
		return !strings.Contains(m, `type="statistics_report"} 0`), grepLines(m, "statistics_report")
	})

	// Shutdown of A's session towards B: B reports a Peer Down.
	if err := a.S.DisablePeer(context.Background(), &api.DisablePeerRequest{Address: "127.0.0.3", Communication: "maintenance"}); err != nil {
		t.Fatalf("DisablePeer: %v", err)
	}
	waitFor(t, "peer A down", 15*time.Second, func() (bool, string) {
		ps, err := client.Peers(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.PeerAddress == "127.0.0.2" && p.Table == "adj-rib-in-pre" {
				return p.State == "down" && p.Routes == 0 && strings.Contains(p.LastDownReason, "Cease/Administrative Shutdown (6/2)"), fmt.Sprintf("%+v", p)
			}
		}
		return false, fmt.Sprintf("%+v", ps)
	})

	kinds := map[bmp.EventKind]int{}
	var down *bmp.Event
	drain := time.After(2 * time.Second)
loop:
	for {
		select {
		case e := <-events:
			kinds[e.Kind]++
			if e.Kind == bmp.PeerDown && down == nil {
				down = &e
			}
			if e.Arrival.IsZero() {
				t.Errorf("event %v without arrival time", e.Kind)
			}
		case <-drain:
			break loop
		}
	}
	for _, k := range []bmp.EventKind{bmp.RouterConnected, bmp.PeerUp, bmp.RouteAnnounced, bmp.RouteChanged, bmp.RouteWithdrawn, bmp.PeerDown, bmp.Statistics} {
		if kinds[k] == 0 {
			t.Errorf("no %v event; saw %v", k, kinds)
		}
	}
	if down != nil && (down.PeerDownInfo == nil || down.PeerDownInfo.Reason != 3 || down.PeerTime.IsZero()) {
		t.Errorf("peer down event: %+v, want reason 3 with a NOTIFICATION and a peer timestamp", down)
	}

	// GoBGP v3 omits path IDs in post-policy and Loc-RIB: the station counts it.
	resp := metricsText(t, client.BaseURL)
	if !strings.Contains(resp, `anydiag_bmp_addpath_missing_total{router="127.0.0.1"}`) || strings.Contains(resp, `anydiag_bmp_addpath_missing_total{router="127.0.0.1"} 0`) {
		t.Errorf("addpath_missing not counted:\n%s", grepLines(resp, "addpath"))
	}
	routers := st.Routers()
	if len(routers) != 1 || routers[0].SysName != "gobgp-b" || !routers[0].Connected {
		t.Errorf("routers: %+v", routers)
	}
}
