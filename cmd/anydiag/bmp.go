package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/anydiag/anydiag/bmp"
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
	var listen, httpAddr string
	var dial []string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the BMP station with its HTTP API (/api/v1/bmp/...) and /metrics",
		Example: `  anydiag bmp serve --listen 0.0.0.0:11019 --http 127.0.0.1:8080
  anydiag bmp serve --dial 192.0.2.1:57000 --http 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" && len(dial) == 0 {
				return usageErr("bmp serve: give --listen ADDR:PORT, --dial ADDR:PORT, or both")
			}
			st, err := bmp.New(bmp.Config{Listen: listen, Dial: dial, Logger: slog.Default()})
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			var hs *http.Server
			httpErr := make(chan error, 1)
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return runtimeErr(fmt.Errorf("bmp serve: http: %w", err))
				}
				hs = &http.Server{Handler: st.Handler(), ReadHeaderTimeout: 10 * time.Second}
				slog.Info("bmp http api listening", "addr", ln.Addr().String())
				go func() {
					if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
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
	return c
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
