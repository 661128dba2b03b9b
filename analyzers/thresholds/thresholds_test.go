package thresholds

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/exporters/prometheus/promtest"
	"github.com/anydiag/anydiag/internal/finding"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is an injected clock tests move by hand.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// summary lists findings as "code subject" for comparison.
func summary(fs []finding.Finding) []string {
	finding.Sort(fs)
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Severity.String()+" "+f.Code+" "+f.Subject)
	}
	slices.Sort(out)
	return out
}

func TestThermalFixtures(t *testing.T) {
	tests := []struct {
		dir  string
		want []string
	}{
		{dir: "intel-server", want: []string{"warning thermal.near_critical hwmon2 coretemp/temp3 (Core 1)"}},
		{dir: "amd-k10temp"},
		{dir: "rpi-cpu-thermal"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			s, err := thermal.New(filepath.Join("../../collectors/thermal/testdata", tt.dir), nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			got := summary(New(DefaultLimits(), nil).Thermal(&s, s))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestThrottleRising copies the Intel fixture, raises one core's throttle
// counter and the package counter between two collections.
func TestThrottleRising(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../collectors/thermal/testdata/intel-server")); err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	col := thermal.New(root, c.Now)
	before, err := col.Collect()
	if err != nil {
		t.Fatal(err)
	}
	a := New(DefaultLimits(), c.Now)
	if fs := a.Thermal(&before, before); slices.ContainsFunc(fs, func(f finding.Finding) bool { return f.Code == "thermal.throttling" }) {
		t.Fatalf("throttling reported with unchanged counters: %v", summary(fs))
	}
	cpu := filepath.Join(root, "devices/system/cpu/cpu2/thermal_throttle")
	for name, v := range map[string]string{"core_throttle_count": "9", "package_throttle_count": "20"} {
		if err := os.WriteFile(filepath.Join(cpu, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.now = t0.Add(30 * time.Second)
	after, err := col.Collect()
	if err != nil {
		t.Fatal(err)
	}
	var got []finding.Finding
	for _, f := range a.Thermal(&before, after) {
		if f.Code == "thermal.throttling" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Subject != "cpu package 1" || got[0].Severity != finding.Critical {
		t.Fatalf("got %v", summary(got))
	}
	ev := got[0].Evidence
	if ev["core_throttles"] != uint64(3) || ev["package_throttles"] != uint64(8) || ev["interval_seconds"] != 30.0 {
		t.Errorf("evidence = %v", ev)
	}
	if !got[0].Since.Equal(c.now) {
		t.Errorf("since = %v, want the injected clock", got[0].Since)
	}
}

func TestThermalLimits(t *testing.T) {
	snap := thermal.Snapshot{
		Sensors: []thermal.Sensor{
			{Chip: "hwmon0", ChipName: "coretemp", Sensor: "temp1", TempCelsius: 100, CritCelsius: 100},
			{Chip: "hwmon0", ChipName: "coretemp", Sensor: "temp2", TempCelsius: 94, CritCelsius: 100},
			{Chip: "hwmon1", ChipName: "nvme", Sensor: "temp1", TempCelsius: 85, MaxCelsius: 84.85},
			{Chip: "hwmon2", ChipName: "cpu_thermal", Sensor: "temp1", TempCelsius: 85},
		},
		Zones: []thermal.Zone{{Zone: "thermal_zone0", Type: "acpitz", TempCelsius: 104, Trips: []thermal.TripPoint{{Type: "critical", TempCelsius: 105}}}},
		CPUs:  []thermal.CPU{{CPU: 0, CurFreqKHz: 800000, MaxFreqKHz: 3200000}, {CPU: 1}},
	}
	l := DefaultLimits()
	l.MinFreqRatio = 0.5
	got := summary(New(l, nil).Thermal(nil, snap))
	want := []string{
		"critical thermal.near_critical hwmon0 coretemp/temp1",
		"warning thermal.near_critical hwmon1 nvme/temp1",
		"warning thermal.near_critical thermal_zone0 acpitz",
		"warning thermal.throttling cpu frequency",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLinks(t *testing.T) {
	up := func(name string, idx int, mod func(*link.Interface)) link.Interface {
		i := link.Interface{Index: idx, Name: name, AdminUp: true, Carrier: true, OperState: "up", MTU: 1500}
		if mod != nil {
			mod(&i)
		}
		return i
	}
	prev := link.Snapshot{At: t0, Interfaces: []link.Interface{
		up("lo", 1, func(i *link.Interface) { i.Loopback = true }),
		up("eth0", 2, func(i *link.Interface) { i.CarrierChanges = 4; i.Stats.RxCRCErrors = 10 }),
		up("eth1", 3, func(i *link.Interface) { i.Stats.RxDropped = 100 }),
		up("eth2", 4, func(i *link.Interface) { i.Stats.RxErrors = 50; i.CarrierChanges = 9 }),
	}}
	cur := link.Snapshot{At: t0.Add(10 * time.Second), Interfaces: []link.Interface{
		up("lo", 1, func(i *link.Interface) { i.Loopback = true; i.Carrier = false }),
		up("eth0", 2, func(i *link.Interface) { i.CarrierChanges = 8; i.Stats.RxCRCErrors = 15 }),
		up("eth1", 3, func(i *link.Interface) { i.Stats.RxDropped = 150 }), // 5/s: under 10/s
		// eth2 was reset: counters went backwards.
		up("eth2", 4, func(i *link.Interface) { i.Stats.RxErrors = 1 }),
		up("eth3", 5, func(i *link.Interface) { i.Carrier = false; i.OperState = "down" }),
		up("ve0", 6, func(i *link.Interface) { i.Kind = "veth"; i.PeerIndex = 7; i.MTU = 1400 }),
		up("ve1", 7, func(i *link.Interface) { i.Kind = "veth"; i.PeerIndex = 6 }),
	}}
	got := summary(New(DefaultLimits(), nil).Links(&prev, cur))
	want := []string{
		"critical link.down eth3",
		"warning link.errors eth0",
		"warning link.flapping eth0",
		"warning mtu.mismatch ve0<->ve1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := summary(New(DefaultLimits(), nil).Links(nil, cur)); len(got) != 2 {
		t.Errorf("single sample: got %q, want link.down and mtu.mismatch only", got)
	}
}

func TestPrerequisites(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.1")
	vip6 := netip.MustParseAddr("2001:db8::1")
	good := func() host.Facts {
		return host.Facts{
			KernelRelease: "6.1.0-28-amd64",
			Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.fib_multipath_hash_policy": "1",
				"net.core.rmem_max": "8388608", "net.core.wmem_max": "8388608"},
			Interfaces: []link.Interface{
				{Index: 1, Name: "lo", Loopback: true, AdminUp: true, MTU: 65536},
				{Index: 2, Name: "eth0", AdminUp: true, MTU: 1500},
				{Index: 3, Name: "anycast0", Kind: "dummy", AdminUp: true, MTU: 1500},
			},
			Addresses: []host.Address{{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.1/32")}},
			Daemons:   []host.Process{{PID: 812, Name: "bgpd"}},
			Sockets: []host.Socket{{Local: netip.MustParseAddrPort("198.51.100.1:179"),
				Remote: netip.MustParseAddrPort("198.51.100.2:40000"), State: "ESTABLISHED", PID: 812}},
		}
	}
	req := host.Requirements{AnycastAddresses: []netip.Addr{vip}}
	tests := []struct {
		name  string
		facts func(*host.Facts)
		req   host.Requirements
		want  []string // "code subject | fix"
	}{
		{name: "all good", req: req},
		{name: "old kernel", facts: func(f *host.Facts) { f.KernelRelease = "4.19.0-27-amd64" }, req: req,
			want: []string{"host.kernel_old kernel | "}},
		{name: "sysctls", req: req, facts: func(f *host.Facts) {
			f.Sysctls["net.ipv4.fib_multipath_hash_policy"] = "0"
			f.Sysctls["net.core.rmem_max"] = "212992"
		}, want: []string{
			"host.sysctl net.core.rmem_max | sysctl -w net.core.rmem_max=4194304",
			"host.sysctl net.ipv4.fib_multipath_hash_policy | sysctl -w net.ipv4.fib_multipath_hash_policy=1",
		}},
		{name: "vip on dummy is fine", req: req, facts: func(f *host.Facts) { f.Addresses[0].Interface = "anycast0" }},
		{name: "vip missing", req: req, facts: func(f *host.Facts) { f.Addresses = nil },
			want: []string{"host.vip_missing 192.0.2.1 | ip addr add 192.0.2.1/32 dev lo"}},
		{name: "vip not a host route", req: req, facts: func(f *host.Facts) { f.Addresses[0].Prefix = netip.MustParsePrefix("192.0.2.1/24") },
			want: []string{"host.vip_missing 192.0.2.1 | ip addr del 192.0.2.1/24 dev lo && ip addr add 192.0.2.1/32 dev lo"}},
		{name: "vip on eth0", req: req, facts: func(f *host.Facts) { f.Addresses[0].Interface = "eth0" },
			want: []string{"host.vip_missing 192.0.2.1 | ip addr del 192.0.2.1/32 dev eth0 && ip addr add 192.0.2.1/32 dev lo"}},
		{name: "ipv6 vip needs v6 sysctls", req: host.Requirements{AnycastAddresses: []netip.Addr{vip6}, AnycastInterface: "anycast0"},
			facts: func(f *host.Facts) {
				f.Sysctls["net.ipv6.conf.all.forwarding"] = "0"
				f.Addresses = []host.Address{{Interface: "anycast0", Prefix: netip.MustParsePrefix("2001:db8::1/128")}}
			}, want: []string{"host.sysctl net.ipv6.conf.all.forwarding | sysctl -w net.ipv6.conf.all.forwarding=1"}},
		{name: "anycast interface missing", req: host.Requirements{AnycastAddresses: []netip.Addr{vip}, AnycastInterface: "vip0"},
			want: []string{"host.vip_missing vip0 | ip link add vip0 type dummy && ip link set dev vip0 up"}},
		{name: "no daemon", req: req, facts: func(f *host.Facts) { f.Daemons, f.Sockets = nil, nil },
			want: []string{"host.bgp_daemon_missing bgp | "}},
		{name: "daemon without socket here", req: req, facts: func(f *host.Facts) { f.Sockets = nil },
			want: []string{"host.bgp_daemon_missing bgp | "}},
		{name: "only listening", req: req, facts: func(f *host.Facts) { f.Sockets[0].State = "LISTEN" },
			want: []string{"bgp.session_down bgp | "}},
		// The embedded speaker (or gobgpd) on a port other than 179: the
		// collector was told the port, the socket is the speaker's.
		{name: "speaker on 1790", req: req, facts: func(f *host.Facts) {
			f.BGPPorts = []uint16{179, 1790}
			f.Sockets[0].Local = netip.MustParseAddrPort("198.51.100.1:1790")
		}},
		{name: "node's bgpd in its own namespace", req: req, facts: func(f *host.Facts) {
			f.NetNS = "net:[1]"
			f.Daemons[0].NetNS = "net:[2]"
			f.Sockets[0].NetNS = "net:[2]"
		}},
		{name: "a lab bgpd elsewhere does not stand in for the node's", req: req, facts: func(f *host.Facts) {
			f.NetNS = "net:[1]"
			f.Daemons = append(f.Daemons, host.Process{PID: 900, Name: "gobgpd", NetNS: "net:[1]"})
			f.Daemons[0].NetNS = "net:[2]"
			f.Sockets[0].NetNS = "net:[2]"
		}, want: []string{"host.bgp_daemon_missing bgp | "}},
		{name: "a lab bgpd elsewhere without sessions is ignored", req: req, facts: func(f *host.Facts) {
			f.NetNS = "net:[1]"
			f.Daemons = append(f.Daemons, host.Process{PID: 901, Name: "bgpd", NetNS: "net:[3]"})
			f.Daemons[0].NetNS = "net:[1]"
		}},
		{name: "vxlan over 1500", req: host.Requirements{AnycastAddresses: []netip.Addr{vip},
			Encapsulations: []host.Encapsulation{{Kind: "vxlan"}, {Kind: "wireguard", Underlay: "eth0", InnerMTU: 1420}}},
			want: []string{"mtu.mismatch eth0 vxlan | ip link set dev eth0 mtu 1550"}},
		{name: "wireguard6 overlay too big", req: host.Requirements{AnycastAddresses: []netip.Addr{vip},
			Encapsulations: []host.Encapsulation{{Kind: "wireguard", Overlay: "wg0", Underlay: "eth0", IPv6Outer: true}}},
			facts: func(f *host.Facts) {
				f.Interfaces = append(f.Interfaces, link.Interface{Index: 9, Name: "wg0", Kind: "wireguard", AdminUp: true, MTU: 1440})
			}, want: []string{"mtu.mismatch eth0 wireguard | ip link set dev eth0 mtu 1520"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good()
			if tt.facts != nil {
				tt.facts(&f)
			}
			var got []string
			fs := New(DefaultLimits(), nil).Prerequisites(f, tt.req)
			// The gauge says the same as the findings, and passes promtool.
			wantOK := "anydiag_host_prerequisite_ok 0"
			if len(tt.want) == 0 {
				wantOK = "anydiag_host_prerequisite_ok 1"
			}
			if m := promtest.Text(t, PrerequisiteMetrics(fs)); !strings.Contains(m, wantOK) {
				t.Errorf("PrerequisiteMetrics = %q, want %s", m, wantOK)
			}
			for _, fd := range fs {
				fix, _ := fd.Evidence["fix"].(string)
				got = append(got, fd.Code+" "+fd.Subject+" | "+fix)
				if fix != "" && !strings.HasSuffix(fd.Summary, "fix: "+fix) {
					t.Errorf("summary %q lacks the fix", fd.Summary)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// decodeSFP builds a real SFF-8472 image and decodes it as the collector does.
func decodeSFP(t *testing.T, ifname string, v eepromgen.SFPValues) optics.Module {
	t.Helper()
	img, err := optics.ParseFlat(eepromgen.SFP(v))
	if err != nil {
		t.Fatal(err)
	}
	m, err := optics.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	m.Interface = ifname
	return *m
}

func TestOpticsLevels(t *testing.T) {
	lane := func(rx float64) eepromgen.LaneValues {
		return eepromgen.LaneValues{TxBiasMA: 30, TxPowerDBm: -2, RxPowerDBm: rx}
	}
	tests := []struct {
		name string
		v    eepromgen.SFPValues
		rng  *Range
		want []string
	}{
		{name: "healthy", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3, Lane: lane(-5)}},
		{name: "below low warning", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3, Lane: lane(-19)},
			want: []string{"warning optics.rx_power_low eth0 lane 1"}},
		{name: "below low alarm", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3, Lane: lane(-22)},
			want: []string{"critical optics.rx_power_low eth0 lane 1"}},
		{name: "outside configured range", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3, Lane: lane(-12)},
			rng: &Range{Min: -10, Max: -3}, want: []string{"warning optics.rx_power_low eth0 lane 1"}},
		{name: "above configured range", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3, Lane: lane(-1)},
			rng: &Range{Min: -10, Max: -3}, want: []string{"warning optics.rx_power_high eth0 lane 1"}},
		{name: "no light", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3,
			Lane: eepromgen.LaneValues{TxBiasMA: 30, TxPowerDBm: -2, RxNoLight: true}},
			want: []string{"critical optics.no_light eth0 lane 1"}},
		{name: "laser off", v: eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3,
			Lane: eepromgen.LaneValues{TxBiasMA: 30, TxNoLight: true, RxPowerDBm: -5}},
			want: []string{"critical optics.tx_power_low eth0 lane 1"}},
		{name: "hot", v: eepromgen.SFPValues{TempCelsius: 72, VccVolts: 3.3, Lane: lane(-5)},
			want: []string{"warning optics.temperature_high eth0"}},
		{name: "very hot", v: eepromgen.SFPValues{TempCelsius: 80, VccVolts: 3.3, Lane: lane(-5)},
			want: []string{"critical optics.temperature_high eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLimits()
			l.RxPowerDBm = tt.rng
			got := summary(New(l, nil).Optics([]optics.Module{decodeSFP(t, "eth0", tt.v)}))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestOpticsFalling feeds hourly samples on an injected clock: a lane losing
// 0.1 dB an hour (2.4 dB/day) is reported once half the window is covered;
// a steady lane never is.
func TestOpticsFalling(t *testing.T) {
	c := &clock{now: t0}
	a := New(DefaultLimits(), c.Now)
	var first int
	for h := 0; h <= 24; h++ {
		c.now = t0.Add(time.Duration(h) * time.Hour)
		falling := decodeSFP(t, "eth0", eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3,
			Lane: eepromgen.LaneValues{TxBiasMA: 30, TxPowerDBm: -2, RxPowerDBm: -5 - 0.1*float64(h)}})
		steady := decodeSFP(t, "eth1", eepromgen.SFPValues{TempCelsius: 40, VccVolts: 3.3,
			Lane: eepromgen.LaneValues{TxBiasMA: 30, TxPowerDBm: -2, RxPowerDBm: -5 + 0.02*float64(h%2)}})
		for _, f := range a.Optics([]optics.Module{falling, steady}) {
			if f.Code != "optics.rx_power_falling" {
				continue
			}
			if f.Subject != "eth0 lane 1" {
				t.Fatalf("hour %d: falling reported for %s", h, f.Subject)
			}
			if first == 0 {
				first = h
				if s := f.Evidence["slope_db_per_day"].(float64); s > -2.3 || s < -2.5 {
					t.Errorf("slope = %.3f dB/day, want about -2.4", s)
				}
			}
		}
	}
	if first != 12 {
		t.Errorf("first reported at hour %d, want 12 (half the 24 h window)", first)
	}
}
