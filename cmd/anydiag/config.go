package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/spf13/cobra"
)

func init() { register(newConfigCmd) }

func newConfigCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with the agent's configuration file",
	}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and print every problem with its line",
		Long: `check decodes FILE strictly (unknown keys and wrong types are errors), validates
every value (prefixes, host routes, durations, addresses, thresholds) and prints
all problems at once as FILE:LINE: KEY: MESSAGE. It exits 0 when the file is
valid and 2 otherwise.`,
		Example: "  anydiag config check /etc/anydiag/agent.yaml\n  anydiag config check examples/agent.yaml --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type result struct {
				File     string             `json:"file"`
				Valid    bool               `json:"valid"`
				Problems []yamlconf.Problem `json:"problems"`
			}
			_, err := config.Load(args[0])
			r := result{File: args[0], Valid: err == nil, Problems: []yamlconf.Problem{}}
			var ce *yamlconf.Error
			if errors.As(err, &ce) {
				r.Problems = ce.Problems
			} else if err != nil {
				return runtimeErr(err)
			}
			if perr := emit(cmd, r, func(w io.Writer) error {
				if r.Valid {
					_, err := fmt.Fprintf(w, "%s: valid\n", r.File)
					return err
				}
				for _, p := range r.Problems {
					fmt.Fprintln(w, p.String())
				}
				_, err := fmt.Fprintf(w, "%d problem(s)\n", len(r.Problems))
				return err
			}); perr != nil {
				return perr
			}
			if !r.Valid {
				return &exitError{code: exitUsage}
			}
			return nil
		},
	})
	return c
}
