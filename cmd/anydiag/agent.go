package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/anydiag/anydiag/internal/agent"
	"github.com/spf13/cobra"
)

func init() { register(newAgentCmd) }

func newAgentCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "agent",
		Short: "Run the continuous exporter, analyzers, policy and speaker of one PoP",
		Long: `agent runs the configured collectors on their intervals, the analyzers, the
withdrawal policy and the BGP speaker, and serves on exporters.listen:

  GET  /metrics                   Prometheus metrics (promtool-clean)
  GET  /healthz                   liveness
  GET  /api/v1/findings           active findings as JSON, worst first
  GET  /api/v1/status             node identity, collectors' last runs, speaker peers
  GET  /api/v1/bmp/routers        the BMP station's routers   (collectors.bmp)
  GET  /api/v1/bmp/peers          its monitored peers         (collectors.bmp)
  GET  /api/v1/bmp/routes         its routes, paginated       (collectors.bmp)
  GET  /api/v1/flaps              flap penalties it tracks    (collectors.bmp)
  GET  /api/v1/policy/explain     what the policy would do now, and why (a speaker)
  GET  /api/v1/policy/audit       the policy's recent decisions
  GET  /api/v1/policy/findings    the policy's own findings
  POST /api/v1/control/withdraw   manual withdraw {prefix, reason} (exporters.token_file)
  POST /api/v1/control/announce   release a manual withdrawal {prefix}
  POST /api/v1/control/drain      withdraw every prefix for maintenance
  POST /api/v1/control/undrain    end the drain
  POST /api/v1/alertmanager       the Alertmanager webhook (exporters.alertmanager
                                  without its own listen)

The control API is served only when exporters.token_file is set (bearer
token, at least 16 bytes, mode 0600); the policy paths only with a speaker;
a path whose component is not configured answers 404.

SIGHUP reloads the configuration file: an invalid file is rejected with a log
line and anydiag_config_last_reload_successful 0, and the old one stays in
force. SIGTERM or Ctrl-C stops gracefully.`,
		Example: "  anydiag agent --config /etc/anydiag/agent.yaml\n  kill -HUP $(pidof anydiag)   # reload",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := agent.New(agent.Options{ConfigPath: cfgPath, Version: version, Log: slog.Default()})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						// The agent logs and counts the outcome itself.
						_ = a.Reload(ctx)
					}
				}
			}()
			return runtimeErr(a.Run(ctx))
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "/etc/anydiag/agent.yaml", "agent configuration file")
	return c
}
