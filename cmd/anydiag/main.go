// Command anydiag observes, diagnoses and protects anycast services.
//
// Every command prints a human table by default and one JSON document on
// stdout with --json; logs go to stderr. Exit codes: 0 ok, 1 a finding of
// severity warning or worse, 2 usage or configuration error, 3 runtime failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

// Exit codes of DESIGN.md's contract.
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
	exitRuntime  = 3
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration error (exit 2).
func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// runtimeErr marks err as a runtime failure (exit 3).
func runtimeErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitRuntime, err: err}
}

// findingsExit is returned by commands whose findings reach warning: the
// output is already printed, only the exit code is left to set.
var findingsExit = &exitError{code: exitFindings}

// exitFor is the exit every command that prints findings ends with:
// findingsExit when the worst of fs is warning or worse, else nil.
func exitFor(fs []finding.Finding) error {
	if worst, ok := finding.Worst(fs); ok && worst >= finding.Warning {
		return findingsExit
	}
	return nil
}

// commands are added by each command file's init, so that files stay
// independent of each other.
var commands []func() *cobra.Command

func register(f func() *cobra.Command) { commands = append(commands, f) }

// globalFlags are the flags every command shares.
type globalFlags struct {
	json     bool
	logLevel string
}

var global globalFlags

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "anydiag",
		Short: "Observe, diagnose and protect anycast services",
		Long: `anydiag observes, diagnoses and protects anycast services: it collects BGP
state over BMP, optics, thermal, path and service health; turns them into
findings with advice; and withdraws a node's anycast announcement safely when
it is unfit.

Exit codes: 0 ok, 1 a finding of severity warning or worse, 2 usage or
configuration error, 3 runtime failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(global.logLevel)); err != nil {
				return usageErr("--log-level: %v", err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			return nil
		},
	}
	root.PersistentFlags().BoolVar(&global.json, "json", false, "print one JSON document on stdout instead of tables")
	root.PersistentFlags().StringVar(&global.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	for _, f := range commands {
		root.AddCommand(f())
	}
	groupsRefuseUnknown(root)
	return root
}

// groupsRefuseUnknown makes every command that only groups subcommands
// (anydiag, config, bgp, ...) refuse an unknown subcommand with exit 2 and
// the nearest names; cobra would print the help and exit 0 for any but the
// root, so a typo in a script went unnoticed.
func groupsRefuseUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		groupsRefuseUnknown(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.SuggestionsMinimumDistance = 2
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(quoteAll(s), " or "))
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usageErr("%s; its commands: %s", msg, strings.Join(names, ", "))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	global = globalFlags{}
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "anydiag:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command, wrong argument count) are usage errors.
	fmt.Fprintln(stderr, "anydiag:", err)
	return exitUsage
}
