package agent

import (
	"context"
	"errors"
	"fmt"
	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/analyzers/session"
	"github.com/anydiag/anydiag/bmp"
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
	downs := &downLog{}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-bctx.Done():
				return
			case ev := <-downEvents:
				if ev.Kind == bmp.PeerDown {
					downs.add(sessionDown(ev))
				}
			}
		}
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
			var peers []session.Peer
			for _, p := range st.Peers() {
				sp := session.Peer{Router: p.Router, PeerAddress: p.PeerAddress, PeerAS: p.PeerAS, PeerBGPID: p.PeerBGPID,
					State: p.State, Table: p.Table, Routes: p.Routes, LastDownReason: p.LastDownReason}
				if p.UpSince != nil {
					sp.UpSince = *p.UpSince
				}
				peers = append(peers, sp)
			}
			fs := session.Analyze(session.Config{}, a.now(), peers, downs.recent())
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

// downLog keeps the most recent Peer Downs for the session analyzer.
type downLog struct {
	mu    sync.Mutex
	downs []session.Down
}

// maxDowns bounds the log: a flapping session must not grow it forever.
const maxDowns = 1024

func (l *downLog) add(d session.Down) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.downs = append(l.downs, d)
	if len(l.downs) > maxDowns {
		l.downs = append(l.downs[:0], l.downs[len(l.downs)-maxDowns:]...)
	}
}

func (l *downLog) recent() []session.Down {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]session.Down(nil), l.downs...)
}

func sessionDown(ev bmp.Event) session.Down {
	d := session.Down{Time: ev.Arrival, Router: ev.Router, PeerAddress: ev.PeerAddress.String(), PeerAS: ev.PeerAS}
	if !ev.PeerTime.IsZero() {
		d.Time = ev.PeerTime
	}
	if pd := ev.PeerDownInfo; pd != nil {
		d.Reason = session.Reason(pd.Reason)
		if n := pd.Notification; n != nil {
			d.Notification = &session.Notification{Code: n.Code, Subcode: n.Subcode, Data: n.Data}
		}
	}
	return d
}
