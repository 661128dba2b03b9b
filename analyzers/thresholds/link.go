package thresholds

import (
	"fmt"

	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/internal/finding"
)

// Links reports interfaces that are up without carrier, veth pairs whose
// ends disagree on MTU, and, when prev is given, flaps and error or drop
// rates between the two samples.
func (a *Analyzer) Links(prev *link.Snapshot, cur link.Snapshot) []finding.Finding {
	var out []finding.Finding
	byIndex := make(map[int]link.Interface, len(cur.Interfaces))
	for _, i := range cur.Interfaces {
		byIndex[i.Index] = i
	}
	for _, i := range cur.Interfaces {
		if i.AdminUp && !i.Carrier && !i.Loopback {
			out = append(out, finding.New("link.down", i.Name, "administratively up but no carrier",
				map[string]any{"oper_state": i.OperState}, a.now()))
		}
		// Each pair is seen from both ends; report it from the lower index.
		if p, ok := byIndex[i.PeerIndex]; ok && i.Kind == "veth" && !i.PeerNetns && i.Index < p.Index && i.MTU != p.MTU {
			hi := max(i.MTU, p.MTU)
			out = append(out, finding.New("mtu.mismatch", i.Name+"<->"+p.Name,
				fmt.Sprintf("veth ends disagree on MTU: %s %d, %s %d; fix: ip link set dev %s mtu %d && ip link set dev %s mtu %d",
					i.Name, i.MTU, p.Name, p.MTU, i.Name, hi, p.Name, hi),
				map[string]any{i.Name + "_mtu": i.MTU, p.Name + "_mtu": p.MTU}, a.now()))
		}
	}
	if prev == nil {
		return out
	}
	secs := cur.At.Sub(prev.At).Seconds()
	before := make(map[int]link.Interface, len(prev.Interfaces))
	for _, i := range prev.Interfaces {
		before[i.Index] = i
	}
	for _, i := range cur.Interfaces {
		p, ok := before[i.Index]
		// A reused index with another name is another interface.
		if !ok || p.Name != i.Name {
			continue
		}
		if d := delta32(p.CarrierChanges, i.CarrierChanges); d >= a.limits.FlapCarrierChanges && a.limits.FlapCarrierChanges > 0 {
			out = append(out, finding.New("link.flapping", i.Name,
				fmt.Sprintf("carrier changed %d times in %.0f s", d, secs),
				map[string]any{"carrier_changes": d, "interval_seconds": secs}, a.now()))
		}
		if secs <= 0 {
			continue
		}
		errs := errorCount(i.Stats) - min(errorCount(i.Stats), errorCount(p.Stats))
		drops := dropCount(i.Stats) - min(dropCount(i.Stats), dropCount(p.Stats))
		crc := i.Stats.RxCRCErrors - min(i.Stats.RxCRCErrors, p.Stats.RxCRCErrors)
		errRate, dropRate := float64(errs)/secs, float64(drops)/secs
		if (errs > 0 && errRate > a.limits.ErrorsPerSecond) || (drops > 0 && dropRate > a.limits.DropsPerSecond) {
			out = append(out, finding.New("link.errors", i.Name,
				fmt.Sprintf("%.2f errors/s (%d CRC) and %.2f drops/s over %.0f s", errRate, crc, dropRate, secs),
				map[string]any{"errors": errs, "crc_errors": crc, "drops": drops,
					"errors_per_second": errRate, "drops_per_second": dropRate, "interval_seconds": secs}, a.now()))
		}
	}
	return out
}

func errorCount(s link.Stats) uint64 {
	// rx_errors already includes CRC, frame, FIFO and missed on most
	// drivers, but not all; the sum over-counts rather than misses.
	return s.RxErrors + s.TxErrors + s.RxCRCErrors + s.RxFrameErrors + s.RxFIFOErrors + s.RxMissed + s.TxCarrier
}

func dropCount(s link.Stats) uint64 { return s.RxDropped + s.TxDropped }

// delta32 is cur-prev, 0 when the counter went backwards (interface reset).
func delta32(prev, cur uint32) uint32 {
	if cur < prev {
		return 0
	}
	return cur - prev
}
