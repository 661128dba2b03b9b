package main

import (
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"

	"github.com/anydiag/anydiag/lab"
	"github.com/spf13/cobra"
)

func init() { register(newLabCmd) }

func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Build network-namespace labs (nodes, veth links, routes, impairments)",
		Long: `lab builds a topology of network namespaces joined by veth links, with
addresses, routes, MTUs, rate limits (tc tbf) and loss (nftables), for tests
and demos. Namespaces are named adl<PID>-<N>-<node>; a lab whose owning
process died is removed by the next "lab up" or by "lab down". See
lab/README.md for the YAML format.`,
	}
	c.AddCommand(newLabUpCmd(), newLabDownCmd(), newLabListCmd(), newLabExecCmd())
	return c
}

func newLabUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "up FILE",
		Short: "Build the lab described in FILE and keep it up until Ctrl-C or SIGTERM",
		Example: `  anydiag lab up examples/lab/chain.yaml
  anydiag lab up --json examples/lab/anycast.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topo, err := lab.Load(args[0])
			if err != nil {
				return usageErr("%v", err)
			}
			ctx := cmd.Context()
			l, err := lab.Up(ctx, topo, lab.Options{})
			if err != nil {
				return runtimeErr(err)
			}
			// Teardown must run even though ctx (cancelled by the signal) is done.
			defer func() {
				if err := l.Close(); err != nil {
					slog.Error("lab: teardown", "lab", l.ID(), "err", err)
				}
			}()
			if err := emit(cmd, l.Info(), func(w io.Writer) error { return writeLabInfo(w, l.Info()) }); err != nil {
				return err
			}
			slog.Info("lab is up; Ctrl-C or SIGTERM tears it down", "lab", l.ID(), "name", topo.Name)
			<-ctx.Done()
			slog.Info("lab: tearing down", "lab", l.ID())
			return nil
		},
	}
}

func writeLabInfo(w io.Writer, in lab.Info) error {
	fmt.Fprintf(w, "lab %s (%s), files in %s\n\n", in.ID, in.Name, in.TempDir)
	var rows [][]string
	for _, n := range in.Nodes {
		if len(n.Loopback) > 0 {
			rows = append(rows, []string{n.Name, n.Namespace, "lo", "", strings.Join(n.Loopback, " "), "", ""})
		}
		for _, i := range n.Ifaces {
			rows = append(rows, []string{n.Name, n.Namespace, i.Name, fmt.Sprint(i.MTU), strings.Join(i.Addrs, " "), i.Peer + ":" + i.PeerIface, ""})
		}
		for _, r := range n.Routes {
			via := r.Via
			if r.Dev != "" {
				via = strings.TrimSpace(via + " dev " + r.Dev)
			}
			rows = append(rows, []string{n.Name, n.Namespace, "", "", "", "", r.To + " via " + via})
		}
	}
	return table(w, []string{"NODE", "NAMESPACE", "IFACE", "MTU", "ADDRESSES", "PEER", "ROUTE"}, rows)
}

func newLabDownCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "down",
		Short: "Remove labs whose owning process is gone (--all: every lab)",
		Example: `  anydiag lab down
  anydiag lab down --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clean := lab.CleanupStale
			if all {
				clean = lab.CleanupAll
			}
			removed, err := clean()
			if removed == nil {
				removed = []string{}
			}
			if e := emit(cmd, map[string]any{"removed": removed}, func(w io.Writer) error {
				if len(removed) == 0 {
					_, err := fmt.Fprintln(w, "no lab namespaces removed")
					return err
				}
				for _, ns := range removed {
					if _, err := fmt.Fprintln(w, "removed", ns); err != nil {
						return err
					}
				}
				return nil
			}); e != nil {
				return e
			}
			return runtimeErr(err)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also remove labs whose owner is still running, killing their processes")
	return c
}

func newLabListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the labs on this machine and their namespaces",
		Example: `  anydiag lab list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			labs, err := lab.List()
			if err != nil {
				return runtimeErr(err)
			}
			return emit(cmd, labs, func(w io.Writer) error {
				var rows [][]string
				for _, r := range labs {
					state := "running"
					if !r.Alive {
						state = "stale"
					}
					nodes := make([]string, 0, len(r.Namespaces))
					for n := range r.Namespaces {
						nodes = append(nodes, n)
					}
					slices.Sort(nodes)
					rows = append(rows, []string{r.ID, r.Name, fmt.Sprint(r.PID), state, strings.Join(nodes, ",")})
				}
				return table(w, []string{"LAB", "NAME", "PID", "STATE", "NODES"}, rows)
			})
		},
	}
}

func newLabExecCmd() *cobra.Command {
	var which string
	c := &cobra.Command{
		Use:   "exec NODE -- COMMAND [ARG...]",
		Short: "Run a command inside a node of a running lab",
		Example: `  anydiag lab exec client -- ip route get 192.0.2.1
  anydiag lab exec --lab chain r1 -- ip -s link`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := findNode(which, args[0])
			if err != nil {
				return err
			}
			return runInNamespace(cmd, ns, args[1:])
		},
	}
	c.Flags().StringVar(&which, "lab", "", "the lab's ID or name, when several are running")
	return c
}

// findNode returns the namespace of node in the running lab chosen by
// which (ID or name; empty when only one lab runs).
func findNode(which, node string) (string, error) {
	labs, err := lab.List()
	if err != nil {
		return "", runtimeErr(err)
	}
	var match []lab.Running
	for _, r := range labs {
		if r.Alive && (which == "" || r.ID == which || r.Name == which) {
			match = append(match, r)
		}
	}
	switch {
	case len(match) == 0 && which == "":
		return "", usageErr("no running lab (start one with: anydiag lab up FILE)")
	case len(match) == 0:
		return "", usageErr("no running lab %q", which)
	case len(match) > 1:
		ids := make([]string, len(match))
		for i, r := range match {
			ids[i] = r.ID + " (" + r.Name + ")"
		}
		return "", usageErr("several labs run, choose one with --lab: %s", strings.Join(ids, ", "))
	}
	ns, ok := match[0].Namespaces[node]
	if !ok {
		return "", usageErr("lab %s has no node %q", match[0].ID, node)
	}
	return ns, nil
}

func runInNamespace(cmd *cobra.Command, ns string, argv []string) error {
	c := exec.CommandContext(cmd.Context(), "ip", append([]string{"netns", "exec", ns}, argv...)...)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := c.Run(); err != nil {
		return runtimeErr(fmt.Errorf("%s in %s: %w", argv[0], ns, err))
	}
	return nil
}
