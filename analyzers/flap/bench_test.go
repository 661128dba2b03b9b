package flap

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
)

// BenchmarkFlapTracker feeds 1,000,000 events over 100,000 distinct prefixes
// (ten peers of one router, each prefix seen from one peer) into a Cisco
// tracker: every prefix is withdrawn and re-announced five times, one event a
// millisecond. It reports events/s and the heap held per tracked prefix.
func BenchmarkFlapTracker(b *testing.B) {
	const nPrefixes, nEvents = 100_000, 1_000_000
	prefixes := make([]netip.Prefix, nPrefixes)
	for i := range prefixes {
		prefixes[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	peers := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5",
		"198.51.100.6", "198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.10"}
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var bytesPerPrefix float64
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := NewTracker(dampening.Cisco)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := 0; j < nEvents; j++ {
			i := j % nPrefixes
			kind := Withdraw
			if (j/nPrefixes)%2 == 1 {
				kind = Announce
			}
			ev := Event{Time: base.Add(time.Duration(j) * time.Millisecond), Router: "203.0.113.1",
				Peer: peers[i%len(peers)], Prefix: prefixes[i], Kind: kind}
			if _, err := tr.Observe(ev); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tr.Len() != nPrefixes {
			b.Fatalf("%d entries, want %d", tr.Len(), nPrefixes)
		}
		bytesPerPrefix = float64(after.HeapAlloc-before.HeapAlloc) / float64(tr.Len())
		runtime.KeepAlive(tr)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(nEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(bytesPerPrefix, "bytes/prefix")
}
