package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/exporters/alertmanager"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/speakers/bird"
	"github.com/anydiag/anydiag/speakers/frr"
	"github.com/anydiag/anydiag/speakers/gobgp"
	"github.com/anydiag/anydiag/speakers/gobgpapi"
)

// startPolicy starts the speaker, the health checks and the policy engine,
// and mounts the policy, control and webhook APIs on mux.
func startPolicy(ctx context.Context, a *Agent, cfg *config.Config, c *part, mux *http.ServeMux) error {
	if cfg.Speaker.Kind() == "" {
		return nil
	}
	sp, err := startSpeaker(ctx, a, cfg.Speaker, c)
	if err != nil {
		return fmt.Errorf("agent: speaker %s: %w", cfg.Speaker.Kind(), err)
	}

	set := metrics.NewSet()
	c.sets = append(c.sets, &setHolder{set: set})

	runner, err := health.NewRunner(cfg.Health, health.Options{Metrics: set, Logger: a.log.With("component", "health")})
	if err != nil {
		return fmt.Errorf("agent: health: %w", err)
	}
	hctx, stopHealth := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runner.Run(hctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("health checks stopped", "err", err)
		}
	}()
	c.stops = append(c.stops, func(context.Context) { stopHealth(); wg.Wait() })

	fleet, err := policy.NewFleetCounter(cfg.Policy.FleetGuard, nil)
	if err != nil {
		return fmt.Errorf("agent: fleet guard: %w", err)
	}
	var audit io.Writer
	if cfg.Policy.AuditFile != "" {
		f, err := os.OpenFile(cfg.Policy.AuditFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("agent: policy audit file: %w", err)
		}
		audit = f
		c.stops = append(c.stops, func(context.Context) { f.Close() })
	}
	prefixes := make([]netip.Prefix, 0, len(cfg.Anycast.Prefixes))
	for _, p := range cfg.Anycast.Prefixes {
		prefixes = append(prefixes, p.Prefix)
	}
	pcfg := cfg.Policy
	if !pcfg.Canary.IsValid() && cfg.Anycast.Canary != nil {
		pcfg.Canary = *cfg.Anycast.Canary
	}
	opts := policy.Options{Speaker: sp, Audit: audit, Metrics: set, Logger: a.log.With("component", "policy"), Now: a.now}
	if fleet != nil {
		opts.Fleet = fleet
	}
	eng, err := policy.NewEngine(pcfg, prefixes, opts)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// Withdraw-on-shutdown runs when the agent exits, before the speaker stops.
	c.shutdown = append(c.shutdown, func(ctx context.Context) { eng.Shutdown(ctx) })

	interval := pcfg.Interval.D()
	if interval <= 0 {
		interval = time.Second
	}
	c.tasks = append(c.tasks, Task{Name: "policy", Interval: interval, Timeout: max(interval, 10*time.Second),
		Run: func(ctx context.Context) ([]finding.Finding, error) {
			in := policy.Input{Checks: map[string]string{}, Findings: otherFindings(a.store.all())}
			for _, st := range runner.States() {
				in.Checks[st.Check] = string(st.Status)
			}
			now := a.now()
			eng.Evaluate(ctx, now, in)
			fs := eng.Findings(now)
			for _, st := range runner.States() {
				if st.Status == health.StatusDown {
					fs = append(fs, finding.New("health.check_failing", "check "+st.Check,
						fmt.Sprintf("health check %s (%s) is down: %s", st.Check, st.Type, st.Last.Error),
						map[string]any{"consecutive_failures": st.Failures, "latency_seconds": st.Last.Latency.Seconds()}, st.Since))
				}
			}
			return fs, nil
		}})

	mux.Handle("/api/v1/policy/", eng.Handler())
	token, err := readToken(cfg.Exporters.TokenFile)
	if err != nil {
		return err
	}
	mountControl(mux, eng, token)
	if am := cfg.Exporters.Alertmanager; am != nil {
		rcv, err := alertmanager.New(*am, eng, a.log.With("component", "alertmanager"))
		if err != nil {
			return fmt.Errorf("agent: alertmanager webhook: %w", err)
		}
		if am.Listen.IsValid() {
			ln, err := net.Listen("tcp", am.Listen.String())
			if err != nil {
				return fmt.Errorf("agent: alertmanager webhook: %w", err)
			}
			actx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); rcv.Serve(actx, ln) }()
			c.stops = append(c.stops, func(context.Context) { stop(); <-done })
		} else {
			mux.Handle("POST /api/v1/alertmanager", rcv)
		}
	}
	return nil
}

// startSpeaker starts the configured speaker and registers its stop and,
// for the GoBGP ones, its per-peer status.
func startSpeaker(ctx context.Context, a *Agent, cfg config.Speaker, c *part) (policy.Speaker, error) {
	log := a.log.With("component", "speaker")
	type peered interface {
		Peers(context.Context) ([]gobgp.PeerState, error)
	}
	var sp policy.Speaker
	switch {
	case cfg.GoBGP != nil:
		s, err := gobgp.New(*cfg.GoBGP, log)
		if err != nil {
			return nil, err
		}
		if err := s.Start(ctx); err != nil {
			return nil, err
		}
		c.stops = append(c.stops, func(ctx context.Context) {
			if err := s.Stop(ctx); err != nil {
				a.log.Error("speaker stop", "err", err)
			}
		})
		sp = s
	case cfg.GoBGPAPI != nil:
		s, err := gobgpapi.Dial(ctx, *cfg.GoBGPAPI, nil, log)
		if err != nil {
			return nil, err
		}
		c.stops = append(c.stops, func(context.Context) { s.Close() })
		sp = s
	case cfg.BIRD != nil:
		s, err := bird.New(*cfg.BIRD, log)
		if err != nil {
			return nil, err
		}
		sp = s
	case cfg.FRR != nil:
		s, err := frr.New(*cfg.FRR, log)
		if err != nil {
			return nil, err
		}
		sp = s
	}
	if pr, ok := sp.(peered); ok {
		c.status = func() any {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			peers, err := pr.Peers(sctx)
			if err != nil {
				return map[string]any{"speaker": cfg.Kind(), "speaker_error": err.Error()}
			}
			return map[string]any{"speaker": cfg.Kind(), "bgp_peers": peers}
		}
	} else {
		c.status = func() any { return map[string]any{"speaker": cfg.Kind()} }
	}
	return sp, nil
}

// otherFindings drops the policy's own findings from its input, so a
// refusal never feeds back into the next evaluation.
func otherFindings(fs []finding.Finding) []finding.Finding {
	out := fs[:0:0]
	for _, f := range fs {
		if !strings.HasPrefix(f.Code, "policy.") && f.Code != "health.check_failing" {
			out = append(out, f)
		}
	}
	return out
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("agent: exporters.token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("agent: exporters.token_file %s is empty", path)
	}
	return t, nil
}

// ControlRequest is the body of the control API's POST requests.
type ControlRequest struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// mountControl serves the authenticated control API used by `anydiag
// withdraw|announce|drain|undrain`. Without a token it is not served at
// all: an unauthenticated withdraw button is an outage waiting to happen.
func mountControl(mux *http.ServeMux, eng *policy.Engine, token string) {
	if token == "" {
		return
	}
	auth := func(h func(http.ResponseWriter, *http.Request, ControlRequest)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
				return
			}
			var req ControlRequest
			if r.ContentLength != 0 {
				if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
					return
				}
			}
			h(w, r, req)
		}
	}
	prefixOf := func(w http.ResponseWriter, req ControlRequest) (netip.Prefix, bool) {
		p, err := netip.ParsePrefix(req.Prefix)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("prefix %q: %v", req.Prefix, err)})
			return p, false
		}
		return p, true
	}
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "decisions": v})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("POST /api/v1/control/withdraw", auth(func(w http.ResponseWriter, r *http.Request, req ControlRequest) {
		if p, ok := prefixOf(w, req); ok {
			d, err := eng.ManualWithdraw(r.Context(), p, req.Reason)
			reply(w, []policy.Decision{d}, err)
		}
	}))
	mux.HandleFunc("POST /api/v1/control/announce", auth(func(w http.ResponseWriter, r *http.Request, req ControlRequest) {
		if p, ok := prefixOf(w, req); ok {
			d, err := eng.ManualAnnounce(r.Context(), p)
			reply(w, []policy.Decision{d}, err)
		}
	}))
	mux.HandleFunc("POST /api/v1/control/drain", auth(func(w http.ResponseWriter, r *http.Request, _ ControlRequest) {
		ds, err := eng.Drain(r.Context())
		reply(w, ds, err)
	}))
	mux.HandleFunc("POST /api/v1/control/undrain", auth(func(w http.ResponseWriter, r *http.Request, _ ControlRequest) {
		ds, err := eng.Undrain(r.Context())
		reply(w, ds, err)
	}))
}
