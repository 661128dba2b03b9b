package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/analyzers/session"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
)

// startBMP runs a BMP station in the agent, with a flap tracker fed from its
// events, and mounts the station's API and /api/v1/flaps.
func startBMP(ctx context.Context, a *Agent, cfg *config.Config, c *part, mux *http.ServeMux) error {
	b := cfg.Collectors.BMP
	if !b.Enabled {
		// Say why instead of a bare 404: the CLI's default collector is
		// this port.
		why := "collectors.bmp.enabled is false in this agent's configuration; enable it (with listen or dial), or run `anydiag bmp serve`"
		mux.Handle("/api/v1/flaps", flap.NotTracked(why))
		mux.Handle("/api/v1/bmp/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, "{\"error\":%q}\n", "this agent runs no BMP station: "+why)
		}))
		return nil
	}
	sc := bmp.Config{Logger: a.log.With("component", "bmp"), Clock: a.now, Limits: b.Limits}
	for _, d := range b.Dial {
		sc.Dial = append(sc.Dial, d.String())
	}
	st, err := bmp.New(sc)
	if err != nil {
		return fmt.Errorf("agent: bmp: %w", err)
	}
	var ln net.Listener
	if b.Listen != nil {
		if ln, err = net.Listen("tcp", b.Listen.String()); err != nil {
			return fmt.Errorf("agent: bmp: listen on collectors.bmp.listen: %w", err)
		}
	}
	fc := b.Flap
	own := append([]netip.Prefix(nil), fc.OwnPrefixes...)
	for _, p := range cfg.Anycast.Prefixes {
		own = append(own, p.Prefix)
	}
	fc.OwnPrefixes = own
	bctx, stop := context.WithCancel(ctx)
	tracking, err := flap.Track(bctx, st, fc, a.now)
	if err != nil {
		stop()
		if ln != nil {
			ln.Close()
		}
		return fmt.Errorf("agent: collectors.bmp.flap: %w", err)
	}
	flaps := tracking.Set
	downEvents, unsubscribeDowns := st.Subscribe(1024)
	downs := &session.DownLog{}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		downs.Feed(bctx, downEvents)
	}()
	go func() {
		defer wg.Done()
		var err error
		if ln != nil {
			err = st.Serve(bctx, ln)
		} else {
			err = st.Run(bctx)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("bmp station stopped", "err", err)
		}
	}()
	c.stops = append(c.stops, func(context.Context) {
		stop()
		tracking.Stop()
		unsubscribeDowns()
		wg.Wait()
	})
	mux.Handle("/api/v1/bmp/", st.Handler())
	mux.Handle("GET /api/v1/flaps", tracking.Handler)
	c.extra = append(c.extra, st.WriteMetrics)
	c.tasks = append(c.tasks, Task{Name: "sessions", Interval: 2 * time.Second, Timeout: 5 * time.Second,
		Run: func(context.Context) ([]finding.Finding, error) {
			fs := session.Analyze(session.Config{}, a.now(), session.FromBMP(st.Peers()), downs.Recent())
			return append(fs, st.Findings()...), nil
		}})
	penalties := c.newSet()
	c.tasks = append(c.tasks, Task{Name: "flaps", Interval: time.Second, Timeout: 5 * time.Second,
		Run: func(context.Context) ([]finding.Finding, error) {
			now := a.now()
			var fs []finding.Finding
			set := metrics.NewSet()
			for _, t := range flaps.Trackers() {
				fs = append(fs, t.Findings(now, own)...)
				for _, s := range t.Snapshot(now) {
					set.GetOrCreateGauge(prometheus.Name("anydiag_flap_penalty", "profile", t.Profile().Name,
						"router", s.Router, "peer", s.Peer, "prefix", s.Prefix.String()), nil).Set(s.Penalty)
				}
			}
			penalties.replace(set)
			return fs, nil
		}})
	return nil
}

func init() {
	prometheus.Describe("anydiag_flap_penalty", prometheus.Gauge,
		"RFC 2439 figure of merit of a route seen over BMP, by dampening profile, router, peer and prefix, decayed to now.")
}
