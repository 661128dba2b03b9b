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

  /metrics            Prometheus metrics (promtool-clean)
  /healthz            liveness
  /api/v1/findings    active findings as JSON
  /api/v1/status      node identity, collectors' last runs, components
  /api/v1/bmp/...     the BMP collector API, when collectors.bmp is enabled

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
