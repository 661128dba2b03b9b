package link

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
)

func init() {
	d := prometheus.Describe
	d("anydiag_link_up", prometheus.Gauge, "1 if the interface has carrier and is operationally up.")
	d("anydiag_link_mtu_bytes", prometheus.Gauge, "Interface MTU in bytes.")
	d("anydiag_link_speed_bytes_per_second", prometheus.Gauge, "Negotiated link speed in bytes per second (0 when unknown).")
	d("anydiag_link_carrier_changes_total", prometheus.Counter, "Carrier transitions since the interface was created (2 per flap).")
	d("anydiag_link_errors_total", prometheus.Counter, "Interface error counters by direction and kind (errors, crc, frame, fifo, missed, carrier).")
	d("anydiag_link_drops_total", prometheus.Counter, "Packets dropped by the interface, by direction.")
}

// Metrics converts one snapshot into a fresh set, which the caller swaps
// for the previous one so removed interfaces lose their series.
func Metrics(s Snapshot) *metrics.Set {
	set := metrics.NewSet()
	for _, i := range s.Interfaces {
		dev := []string{"device", i.Name}
		up := 0.0
		if i.Carrier && (i.OperState == "up" || i.OperState == "unknown") {
			up = 1
		}
		set.GetOrCreateGauge(prometheus.Name("anydiag_link_up", dev...), nil).Set(up)
		set.GetOrCreateGauge(prometheus.Name("anydiag_link_mtu_bytes", dev...), nil).Set(float64(i.MTU))
		if e := i.Ethtool; e != nil && e.SpeedMbps > 0 {
			set.GetOrCreateGauge(prometheus.Name("anydiag_link_speed_bytes_per_second", dev...), nil).Set(float64(e.SpeedMbps) * 1e6 / 8)
		}
		set.GetOrCreateCounter(prometheus.Name("anydiag_link_carrier_changes_total", dev...)).Set(uint64(i.CarrierChanges))
		st := i.Stats
		for _, e := range []struct {
			dir, kind string
			v         uint64
		}{
			{"rx", "errors", st.RxErrors}, {"tx", "errors", st.TxErrors}, {"rx", "crc", st.RxCRCErrors},
			{"rx", "frame", st.RxFrameErrors}, {"rx", "fifo", st.RxFIFOErrors}, {"rx", "missed", st.RxMissed},
			{"tx", "carrier", st.TxCarrier},
		} {
			set.GetOrCreateCounter(prometheus.Name("anydiag_link_errors_total", "device", i.Name, "direction", e.dir, "kind", e.kind)).Set(e.v)
		}
		set.GetOrCreateCounter(prometheus.Name("anydiag_link_drops_total", "device", i.Name, "direction", "rx")).Set(st.RxDropped)
		set.GetOrCreateCounter(prometheus.Name("anydiag_link_drops_total", "device", i.Name, "direction", "tx")).Set(st.TxDropped)
	}
	return set
}
