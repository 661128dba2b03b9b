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
	"github.com/anydiag/anydiag/exporters/api"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
)

// startBMP runs a BMP station in the agent, a flap tracker and a Peer Down
// log fed from its events, and the session and flap analyzers on them; it
// mounts the station's API and /api/v1/flaps.
func startBMP(ctx context.Context, a *Agent, cfg *config.Config, c *part, mux *http.ServeMux) error {
	b := cfg.Collectors.BMP
	if !b.Enabled {
		// Say why instead of a bare 404: the CLI's default collector is
		// this port.
		why := "collectors.bmp.enabled is false in this agent's configuration; enable it (with listen or dial), or run `anydiag bmp serve`"
		mux.Handle("/api/v1/flaps", flap.NotTracked(why))
		mux.Handle("/api/v1/bmp/", api.NotHere("this agent runs no BMP station: "+why))
		return nil
	}
	st, serve, err := newStation(a, b)
	if err != nil {
		return err
	}
	fc := b.Flap
	fc.OwnPrefixes = append([]netip.Prefix(nil), fc.OwnPrefixes...)
	for _, p := range cfg.Anycast.Prefixes {
		fc.OwnPrefixes = append(fc.OwnPrefixes, p.Prefix)
	}
	bctx, stop := context.WithCancel(ctx)
	tracking, err := flap.Track(bctx, st, fc, a.now)
	if err != nil {
		stop()
		serve(nil) // closes the listener
		return fmt.Errorf("agent: collectors.bmp.flap: %w", err)
	}
	downs := &session.DownLog{}
	events, unsubscribe := st.Subscribe(1024)
	var wg sync.WaitGroup
	wg.Go(func() { downs.Feed(bctx, events) })
	wg.Go(func() { serve(bctx) })
	c.stops = append(c.stops, func(context.Context) {
		stop()
		tracking.Stop()
		unsubscribe()
		wg.Wait()
	})
	mux.Handle("/api/v1/bmp/", st.Handler())
	mux.Handle("GET /api/v1/flaps", tracking.Handler)
	c.extra = append(c.extra, st.WriteMetrics)
	c.tasks = append(c.tasks,
		Task{Name: "sessions", Interval: 2 * time.Second, Timeout: 5 * time.Second,
			Run: func(context.Context) ([]finding.Finding, error) {
				fs := session.Analyze(session.Config{}, a.now(), session.FromBMP(st.Peers()), downs.Recent())
				return append(fs, st.Findings()...), nil
			}},
		setTask(c, "flaps", time.Second, func() ([]finding.Finding, *metrics.Set) {
			return tracking.Set.Evaluate(a.now(), fc.OwnPrefixes)
		}))
	return nil
}

// newStation builds the station of collectors.bmp and returns how to run
// it: serve(ctx) listens on collectors.bmp.listen or dials the routers
// until ctx ends; serve(nil) only releases the listener of a station that
// never ran.
func newStation(a *Agent, b config.BMP) (*bmp.Station, func(context.Context), error) {
	sc := bmp.Config{Logger: a.log.With("component", "bmp"), Clock: a.now, Limits: b.Limits}
	for _, d := range b.Dial {
		sc.Dial = append(sc.Dial, d.String())
	}
	st, err := bmp.New(sc)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: bmp: %w", err)
	}
	var ln net.Listener
	if b.Listen != nil {
		if ln, err = net.Listen("tcp", b.Listen.String()); err != nil {
			return nil, nil, fmt.Errorf("agent: bmp: listen on collectors.bmp.listen: %w", err)
		}
	}
	serve := func(ctx context.Context) {
		if ctx == nil {
			if ln != nil {
				ln.Close()
			}
			return
		}
		var err error
		if ln != nil {
			err = st.Serve(ctx, ln)
		} else {
			err = st.Run(ctx)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("bmp station stopped", "err", err)
		}
	}
	return st, serve, nil
}

// setTask is a task whose run yields findings and a fresh metric set, which
// replaces the one of its previous run.
func setTask(c *part, name string, every time.Duration, run func() ([]finding.Finding, *metrics.Set)) Task {
	h := c.newSet()
	return Task{Name: name, Interval: every, Timeout: 5 * time.Second,
		Run: func(context.Context) ([]finding.Finding, error) {
			fs, set := run()
			h.replace(set)
			return fs, nil
		}}
}
