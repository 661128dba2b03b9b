package bmp_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/internal/gen"
	"github.com/anydiag/anydiag/lab"
)

// benchStream writes the generated stream to a temporary file, removed when
// the benchmark ends, so that the replay measures the station and not the
// generator.
func benchStream(b *testing.B, cfg gen.Config) (string, gen.Stats) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "feed.bmp")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	st, err := gen.Write(w, cfg)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatalf("generating stream: %v", err)
	}
	return path, st
}

func countRoutes(st *bmp.Station) int {
	n := 0
	for _, p := range st.Peers() {
		n += p.Routes
	}
	return n
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestFullTable replays a generated full table (1,000,000 IPv4
// and 200,000 IPv6 prefixes spread over 4 peers; a twentieth of it with
// -short) over loopback TCP into a station, and reports routes/s and heap
// bytes per route once all are stored.
func BenchmarkIngestFullTable(b *testing.B) {
	cfg := gen.Config{IPv4Routes: 1_000_000, IPv6Routes: 200_000, Peers: 4, Seed: 1}
	if testing.Short() {
		cfg.IPv4Routes, cfg.IPv6Routes = 50_000, 10_000
	}
	path, gs := benchStream(b, cfg)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		st, err := bmp.New(bmp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- st.Serve(ctx, ln) }()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		cpu0 := cpuTime()
		if _, err := bmp.Replay(ctx, f, conn); err != nil {
			b.Fatal(err)
		}
		if err := lab.WaitFor(ctx, 5*time.Minute, 2*time.Millisecond, func() (bool, error) { return countRoutes(st) >= gs.Routes, nil }); err != nil {
			b.Fatalf("only %d of %d routes: %v", countRoutes(st), gs.Routes, err)
		}
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(gs.Routes)/elapsed.Seconds(), "routes/s")
		b.ReportMetric(elapsed.Seconds(), "s-total")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(gs.Routes), "heapB/route")
		b.ReportMetric(float64(gs.Routes), "routes")
		// CPU time (station and sender together) per route: unlike routes/s,
		// it hardly moves when other processes share the cores.
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(gs.Routes), "cpu-ns/route")
		conn.Close()
		f.Close()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(st)
	}
}
