package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/serve"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/spf13/cobra"
)

func init() { register(newBMPCmd) }

func newBMPCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bmp",
		Short: "BMP station: collect routers' BGP tables over BMP (RFC 7854, 8671, 9069)",
	}
	c.AddCommand(newBMPServeCmd(), newBMPRecordCmd(), newBMPReplayCmd())
	return c
}

func newBMPServeCmd() *cobra.Command {
	var listen, httpAddr, cfgPath string
	var dial, profiles, own, allow []string
	var idle time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the BMP station with its HTTP API (/api/v1/bmp/..., /api/v1/flaps) and /metrics",
		Long: `Run the BMP station with its HTTP API (/api/v1/bmp/routers, peers, routes),
the flap trackers (/api/v1/flaps, read by 'anydiag flaps'), its findings
(/api/v1/findings: limits reached, flapping and dampened prefixes) and
/metrics.

--config reads an agent configuration file and takes its collectors.bmp
section (listen, dial, limits, flap profiles) and anycast.prefixes (the own
prefixes of the flap report); flags given on the command line win. The
station's limits (routers, connections per source, peers, routes, idle
timeout, expiry, allow-list, API page size) and what happens at each are in
bmp/README.md.`,
		Example: `  anydiag bmp serve --listen 0.0.0.0:11019 --http 127.0.0.1:8080
  anydiag bmp serve --dial 192.0.2.1:57000 --http 127.0.0.1:8080
  anydiag bmp serve --listen 0.0.0.0:11019 --allow-router 192.0.2.0/24 --flap-profile cisco --flap-profile ./strict.yaml
  anydiag bmp serve --config /etc/anydiag/anydiag.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, fc, err := bmpServeConfig(cmd, cfgPath, listen, dial, profiles, own, allow, idle)
			if err != nil {
				return err
			}
			if sc.Listen == "" && len(sc.Dial) == 0 {
				return usageErr("bmp serve: give --listen ADDR:PORT, --dial ADDR:PORT, or both (or collectors.bmp.listen/dial in --config)")
			}
			if _, err := serve.RaiseNOFILE(); err != nil {
				slog.Warn("bmp serve: could not raise the open-files limit", "err", err)
			}
			st, err := bmp.New(sc)
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			tracking, err := flap.Track(ctx, st, fc, nil)
			if err != nil {
				return usageErr("bmp serve: %v", err)
			}
			defer tracking.Stop()
			var hs *http.Server
			httpErr := make(chan error, 1)
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return runtimeErr(fmt.Errorf("bmp serve: http: %w", err))
				}
				mux := http.NewServeMux()
				mux.Handle("/", st.Handler())
				mux.Handle("GET /api/v1/flaps", tracking.Handler)
				// The station's own findings (limits reached) and the flap
				// trackers', as the agent's /api/v1/findings lists them.
				mux.HandleFunc("GET /api/v1/findings", func(w http.ResponseWriter, _ *http.Request) {
					fs := append(st.Findings(), tracking.Findings(time.Now())...)
					w.Header().Set("Content-Type", "application/json")
					json.NewEncoder(w).Encode(fs)
				})
				lim := serve.DefaultLimits()
				hs = serve.New(mux, lim)
				slog.Info("bmp http api listening", "addr", ln.Addr().String())
				go func() {
					if err := hs.Serve(serve.Listen(ln, lim)); !errors.Is(err, http.ErrServerClosed) {
						httpErr <- err
						cancel()
					}
				}()
			}
			err = st.Run(ctx)
			if hs != nil {
				sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
				hs.Shutdown(sctx)
				scancel()
			}
			select {
			case herr := <-httpErr:
				return runtimeErr(fmt.Errorf("bmp serve: http: %w", herr))
			default:
			}
			return runtimeErr(err)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "TCP address routers connect to (ADDR:PORT)")
	c.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "address of the HTTP API and /metrics; empty for none")
	c.Flags().StringSliceVar(&dial, "dial", nil, "routers to dial (ADDR:PORT of a router's BMP listener); repeatable")
	c.Flags().StringVar(&cfgPath, "config", "", "agent configuration file whose collectors.bmp section (and anycast.prefixes) configure the station")
	c.Flags().StringSliceVar(&profiles, "flap-profile", nil, "damping profile to track: cisco, juniper or a YAML FILE (see 'anydiag flaps --help'); repeatable (default cisco and juniper)")
	c.Flags().StringSliceVar(&own, "own-prefix", nil, "the node's own anycast prefix, listed first in the flap report; repeatable")
	c.Flags().StringSliceVar(&allow, "allow-router", nil, "only accept routers from this address or prefix; repeatable (default: any)")
	c.Flags().DurationVar(&idle, "idle-timeout", 0, "close a router session whose message, once begun, or whose first message has not arrived within this (default 5m)")
	return c
}

// bmpServeConfig merges --config's collectors.bmp with the flags.
func bmpServeConfig(cmd *cobra.Command, cfgPath, listen string, dial, profiles, own, allow []string, idle time.Duration) (bmp.Config, flap.Config, error) {
	sc := bmp.Config{Logger: slog.Default()}
	var fc flap.Config
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return sc, fc, usageErr("bmp serve: --config: %v", err)
		}
		b := cfg.Collectors.BMP
		if b.Listen != nil {
			sc.Listen = b.Listen.String()
		}
		for _, d := range b.Dial {
			sc.Dial = append(sc.Dial, d.String())
		}
		sc.Limits, fc = b.Limits, b.Flap
		for _, p := range cfg.Anycast.Prefixes {
			fc.OwnPrefixes = append(fc.OwnPrefixes, p.Prefix)
		}
	}
	if cmd.Flags().Changed("listen") {
		sc.Listen = listen
	}
	if cmd.Flags().Changed("dial") {
		sc.Dial = dial
	}
	if len(profiles) > 0 {
		fc.Profiles, fc.CustomProfiles = nil, nil
		for _, name := range profiles {
			if _, ok := dampening.Builtin(name); ok {
				fc.Profiles = append(fc.Profiles, name)
				continue
			}
			p, err := dampening.LoadProfile(name)
			if err != nil {
				return sc, fc, usageErr("--flap-profile: %v", err)
			}
			fc.CustomProfiles = append(fc.CustomProfiles, p)
		}
		if len(fc.Profiles) == 0 {
			// Custom profiles alone would drop the built-in ones the
			// default report uses; keep them unless named otherwise.
			fc.Profiles = []string{dampening.Cisco.Name, dampening.Juniper.Name}
		}
	}
	for _, s := range own {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return sc, fc, usageErr("--own-prefix %q: not a prefix such as 192.0.2.0/24", s)
		}
		fc.OwnPrefixes = append(fc.OwnPrefixes, p.Masked())
	}
	for _, s := range allow {
		p, err := bmp.ParseAddrOrPrefix(s)
		if err != nil {
			return sc, fc, usageErr("--allow-router: %v", err)
		}
		sc.Limits.AllowRouters = append(sc.Limits.AllowRouters, p)
	}
	if idle > 0 {
		sc.Limits.IdleTimeout = yamlconf.Duration(idle)
	}
	return sc, fc, nil
}

func newBMPRecordCmd() *cobra.Command {
	var listen, out string
	c := &cobra.Command{
		Use:     "record",
		Short:   "Accept BMP sessions and write the raw message stream to a file (for replay)",
		Example: `  anydiag bmp record --listen 127.0.0.1:11019 --out /tmp/feed.bmp`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || out == "" {
				return usageErr("bmp record: --listen and --out are required")
			}
			f, err := os.Create(out)
			if err != nil {
				return runtimeErr(fmt.Errorf("bmp record: %w", err))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				f.Close()
				return runtimeErr(fmt.Errorf("bmp record: listen: %w", err))
			}
			slog.Info("bmp record listening", "addr", ln.Addr().String(), "out", out)
			n, err := bmp.Record(cmd.Context(), ln, f, slog.Default())
			if cerr := f.Close(); err == nil && cerr != nil {
				err = cerr
			}
			slog.Info("bmp record done", "messages", n)
			return runtimeErr(err)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "TCP address routers connect to (ADDR:PORT)")
	c.Flags().StringVar(&out, "out", "", "file the raw BMP stream is written to")
	return c
}

func newBMPReplayCmd() *cobra.Command {
	var to string
	var hold bool
	c := &cobra.Command{
		Use:   "replay FILE",
		Short: "Send a recorded BMP stream to a station, as a router would",
		Long: `Send a recorded BMP stream to a station, as a router would. A station flushes a
router's routes when its session ends, so --hold keeps the session open after
the stream until Ctrl-C, to look at the result with 'anydiag bgp'.`,
		Example: `  anydiag bmp replay /tmp/feed.bmp --to 127.0.0.1:11019 --hold`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageErr("bmp replay: --to ADDR:PORT is required")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return usageErr("bmp replay: %v", err)
			}
			defer f.Close()
			var d net.Dialer
			conn, err := d.DialContext(cmd.Context(), "tcp", to)
			if err != nil {
				return runtimeErr(fmt.Errorf("bmp replay: %w", err))
			}
			defer conn.Close()
			start := time.Now()
			n, err := bmp.Replay(cmd.Context(), f, conn)
			if err != nil {
				return runtimeErr(err)
			}
			res := struct {
				Messages int64   `json:"messages"`
				Seconds  float64 `json:"seconds"`
			}{n, time.Since(start).Seconds()}
			err = emit(cmd, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "sent %d messages in %.3fs\n", res.Messages, res.Seconds)
				return err
			})
			if err == nil && hold {
				slog.Info("bmp replay: holding the session open until interrupted")
				<-cmd.Context().Done()
			}
			return err
		},
	}
	c.Flags().StringVar(&to, "to", "", "station address (ADDR:PORT)")
	c.Flags().BoolVar(&hold, "hold", false, "keep the session open after the stream until interrupted")
	return c
}
