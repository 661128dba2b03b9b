package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/collectors/health"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/httpjson"
	"github.com/anydiag/anydiag/speakers"
	"github.com/spf13/cobra"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Inspect the withdrawal policy",
	}
	c.AddCommand(newPolicyExplainCmd())
	return c
}

func newPolicyExplainCmd() *cobra.Command {
	var agentURL, cfgPath string
	c := &cobra.Command{
		Use:   "explain",
		Short: "Say what the policy would do now for each anycast prefix, and why",
		Long: `explain asks a running agent (--agent) what its policy would do now: per
prefix, the state, the action the inputs call for, the guard that would refuse
it and when it could happen, and the policy's findings.

With --config it works offline from the agent configuration instead: it runs
every health check once (one probe, so rise/fall are not applied), reads the
drain file and the fleet guard's count, and explains the decisions assuming
every prefix is announced.`,
		Example: "  anydiag policy explain --agent http://127.0.0.1:9178\n  anydiag policy explain --config /etc/anydiag/agent.yaml --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var x policy.Explanation
			var err error
			if cfgPath != "" {
				x, err = explainOffline(cmd.Context(), cfgPath)
			} else {
				x, err = explainAgent(cmd.Context(), agentURL)
			}
			if err != nil {
				return err
			}
			if err := emit(cmd, x, func(w io.Writer) error { return writeExplanation(w, x) }); err != nil {
				return err
			}
			return exitFor(x.Findings)
		},
	}
	c.Flags().StringVar(&agentURL, "agent", "http://127.0.0.1:9178", "base URL of the agent's API")
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "explain offline from this agent configuration file")
	return c
}

func explainAgent(ctx context.Context, base string) (policy.Explanation, error) {
	var x policy.Explanation
	if _, err := url.ParseRequestURI(base); err != nil {
		return x, usageErr("--agent: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl := httpjson.Client{BaseURL: base, MaxBytes: 16 << 20}
	if _, err := cl.Get(ctx, "/api/v1/policy/explain", nil, &x); err != nil {
		return x, runtimeErr(fmt.Errorf("asking the agent for its explanation: %w", err))
	}
	return x, nil
}

// assumeAnnounced is the offline speaker: it reports every prefix announced
// and refuses changes, which explain never makes.
type assumeAnnounced struct{ prefixes []netip.Prefix }

func (a assumeAnnounced) Announce(context.Context, netip.Prefix, speakers.Attributes) error {
	return fmt.Errorf("offline explain does not announce")
}

func (a assumeAnnounced) Withdraw(context.Context, netip.Prefix) error {
	return fmt.Errorf("offline explain does not withdraw")
}

func (a assumeAnnounced) State(context.Context) ([]speakers.PrefixState, error) {
	out := make([]speakers.PrefixState, len(a.prefixes))
	for i, p := range a.prefixes {
		out[i] = speakers.PrefixState{Prefix: p, Announced: true}
	}
	return out, nil
}

func explainOffline(ctx context.Context, path string) (policy.Explanation, error) {
	var x policy.Explanation
	// The same validation as the agent's: explaining a configuration the
	// agent would refuse would explain a policy that never runs.
	cfg, err := config.Load(path)
	if err != nil {
		return x, usageErr("%v", err)
	}
	prefixes := make([]netip.Prefix, len(cfg.Anycast.Prefixes))
	for i, p := range cfg.Anycast.Prefixes {
		prefixes[i] = p.Prefix
	}
	pcfg := cfg.Policy
	if !pcfg.Canary.IsValid() && cfg.Anycast.Canary != nil {
		pcfg.Canary = *cfg.Anycast.Canary
	}
	runner, err := health.NewRunner(cfg.Health, health.Options{})
	if err != nil {
		return x, usageErr("%v", err)
	}
	in := policy.Input{Checks: map[string]string{}}
	for _, r := range runner.RunOnce(ctx) {
		in.Checks[r.Check] = map[bool]string{true: "up", false: "down"}[r.OK]
		slog.Debug("health check", "check", r.Check, "ok", r.OK, "latency", r.Latency, "error", r.Error)
	}
	fleet, err := policy.NewFleetCounter(pcfg.FleetGuard, nil)
	if err != nil {
		return x, usageErr("%v", err)
	}
	// Offline explain reads the agent's persisted holds but never writes the
	// agent's state file: it hands the state over and forgets the path.
	opts := policy.Options{Speaker: assumeAnnounced{prefixes: prefixes}, Fleet: fleet}
	if sp := pcfg.StatePath(); sp != "" {
		var st policy.State
		if b, err := os.ReadFile(sp); err != nil {
			slog.Debug("policy state not read", "path", sp, "error", err)
		} else if err := json.Unmarshal(b, &st); err != nil {
			slog.Warn("policy state file unreadable, explaining without it", "path", sp, "error", err)
		} else {
			opts.State = &st
		}
	}
	pcfg.StateFile, pcfg.AuditFile = "", ""
	e, err := policy.NewEngine(pcfg, prefixes, opts)
	if err != nil {
		return x, usageErr("%v", err)
	}
	if err := e.Start(ctx); err != nil {
		return x, runtimeErr(err)
	}
	e.SetInput(in)
	return e.Explain(ctx, time.Now()), nil
}

func writeExplanation(w io.Writer, x policy.Explanation) error {
	state := "active"
	switch {
	case x.Drained:
		state = "DRAINED"
	case x.DryRun:
		state = "dry-run"
	}
	fmt.Fprintf(w, "policy %s, withdrawals in the last hour: %d (cap %d)\n\n", state, x.WithdrawalsLastHour, x.MaxPerHour)
	rows := make([][]string, 0, len(x.Prefixes))
	for _, p := range x.Prefixes {
		now := "withdrawn"
		if p.Announced {
			now = "announced"
			if p.Attributes.Degraded() {
				now = "degraded"
			}
		}
		next := "nothing to do"
		if p.Next != nil {
			next = p.Next.Action
			switch {
			case p.Next.Guard != "":
				next += " REFUSED by " + p.Next.Guard
				if p.Next.RetryAfter > 0 {
					next += fmt.Sprintf(" (retry in %s)", time.Duration(p.Next.RetryAfter).Round(time.Second))
				}
			case p.Next.Evidence["needed"] != nil:
				next += fmt.Sprintf(" after %v of %v evaluations", p.Next.Evidence["consecutive"], p.Next.Evidence["needed"])
			}
		}
		reason := p.Reason
		if p.Next != nil && p.Next.Guard != "" {
			reason = p.Next.Reason
		}
		rows = append(rows, []string{p.Prefix.String(), now, p.Want, next, fmt.Sprintf("%.0f", p.Penalty), reason})
	}
	if err := table(w, []string{"PREFIX", "NOW", "WANT", "NEXT", "PENALTY", "WHY"}, rows); err != nil {
		return err
	}
	if len(x.Findings) > 0 {
		fmt.Fprintln(w)
		return writeFindings(w, x.Findings)
	}
	return nil
}
