package main

import (
	"github.com/anydiag/anydiag/internal/demo"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var stay bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Build the anycast lab and play the withdrawal, dampening, fleet-guard and optics scenarios",
		Long: `demo builds, in network namespaces, three PoPs whose agents announce
192.0.2.1/32 with the embedded GoBGP speaker, two FRR upstream routers that
stream BMP to a collector, and clients behind them. It then plays the
scenarios one after another and narrates each, checking every outcome on the
upstream routers themselves: a failing service withdrawn and announced again
after hold-down; a flapping service held back by self-dampening; the fleet
guard refusing to withdraw the last PoP; an optic's receive power below its
alarm threshold. Everything is torn down on exit or Ctrl-C. Needs root.`,
		Example: "  sudo anydiag demo\n  sudo anydiag demo --stay   # keep the lab up to explore it",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := demo.Run(cmd.Context(), demo.Options{Out: cmd.OutOrStdout(), Stay: stay})
			return runtimeErr(err)
		},
	}
	c.Flags().BoolVar(&stay, "stay", false, "keep the lab up after the scenarios until Ctrl-C")
	return c
}
