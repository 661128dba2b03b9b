package link

import (
	"strings"
	"testing"

	"github.com/anydiag/anydiag/exporters/prometheus/promtest"
)

func TestMetrics(t *testing.T) {
	s := Snapshot{Interfaces: []Interface{
		{Name: "lo", OperState: "unknown", Carrier: true, MTU: 65536},
		{Name: "eth0", OperState: "down", Carrier: false, MTU: 1500, CarrierChanges: 4,
			Stats: Stats{RxCRCErrors: 7, TxDropped: 2}, Ethtool: &Ethtool{SpeedMbps: 10000}},
	}}
	out := promtest.Text(t, Metrics(s))
	for _, want := range []string{
		`anydiag_link_up{device="lo"} 1`,
		`anydiag_link_up{device="eth0"} 0`,
		`anydiag_link_speed_bytes_per_second{device="eth0"} 1250000000`,
		`anydiag_link_carrier_changes_total{device="eth0"} 4`,
		`anydiag_link_errors_total{device="eth0",direction="rx",kind="crc"} 7`,
		`anydiag_link_drops_total{device="eth0",direction="tx"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, `anydiag_link_speed_bytes_per_second{device="lo"}`) {
		t.Error("speed exported for an interface without ethtool speed")
	}
}

func TestOnly(t *testing.T) {
	s := Snapshot{Interfaces: []Interface{{Name: "lo"}, {Name: "eth0"}, {Name: "eth1"}}}
	names := func(s Snapshot) (out []string) {
		for _, i := range s.Interfaces {
			out = append(out, i.Name)
		}
		return out
	}
	for _, tt := range []struct {
		only []string
		want string
	}{
		{nil, "lo eth0 eth1"},
		{[]string{"eth1", "lo"}, "lo eth1"},
		{[]string{"nosuch"}, ""},
	} {
		if got := strings.Join(names(s.Only(tt.only)), " "); got != tt.want {
			t.Errorf("Only(%v) = %q, want %q", tt.only, got, tt.want)
		}
	}
	if len(s.Interfaces) != 3 {
		t.Error("Only changed the snapshot it was called on")
	}
}
