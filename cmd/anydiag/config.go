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
	var skipFiles bool
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and print every problem with its line",
		Long: `check decodes FILE strictly (unknown keys and wrong types are errors), validates
every value (prefixes, host routes, durations, addresses, thresholds) and
everything the agent refuses at start: rules naming a health check that does
not exist or a prefix outside anycast.prefixes, degrade on a speaker that
cannot, token files that are short or readable by others (see --skip-files),
files over 1 MiB, more than 1024 prefixes, 256 rules or 256 health checks.
It prints all problems at once as FILE:LINE: KEY: MESSAGE, and warnings
(FILE:LINE: warning: ...) for risky settings the agent accepts: an API
reachable from the network without TLS, a webhook without a token.

Exit 0 when the file is valid, 1 when it is valid but has warnings, 2 when
the agent would refuse it.`,
		Example: "  anydiag config check /etc/anydiag/agent.yaml\n  anydiag config check examples/agent.yaml --skip-files --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type result struct {
				File     string             `json:"file"`
				Valid    bool               `json:"valid"`
				Problems []yamlconf.Problem `json:"problems"`
				Warnings []yamlconf.Problem `json:"warnings"`
			}
			load := config.Load
			if skipFiles {
				load = config.LoadSkippingFiles
			}
			cfg, err := load(args[0])
			r := result{File: args[0], Valid: err == nil, Problems: []yamlconf.Problem{}, Warnings: []yamlconf.Problem{}}
			var ce *yamlconf.Error
			if errors.As(err, &ce) {
				r.Problems = ce.Problems
			} else if err != nil {
				return runtimeErr(err)
			} else if w := cfg.Warnings(); len(w) > 0 {
				r.Warnings = w
			}
			if perr := emit(cmd, r, func(w io.Writer) error {
				for _, p := range r.Problems {
					fmt.Fprintln(w, p.String())
				}
				for _, p := range r.Warnings {
					fmt.Fprintln(w, p.String())
				}
				var err error
				switch {
				case !r.Valid:
					_, err = fmt.Fprintf(w, "%d problem(s): the agent would refuse this file\n", len(r.Problems))
				case len(r.Warnings) > 0:
					_, err = fmt.Fprintf(w, "%s: valid, with %d warning(s)\n", r.File, len(r.Warnings))
				default:
					_, err = fmt.Fprintf(w, "%s: valid\n", r.File)
				}
				return err
			}); perr != nil {
				return perr
			}
			switch {
			case !r.Valid:
				return &exitError{code: exitUsage}
			case len(r.Warnings) > 0:
				return findingsExit
			}
			return nil
		},
	}
	check.Flags().BoolVar(&skipFiles, "skip-files", false, "do not read the files the configuration names (token files): for checking it on another machine than the agent's")
	c.AddCommand(check)
	return c
}
