package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() {
	register(newWithdrawCmd)
	register(newAnnounceCmd)
	register(newDrainCmd(true))
	register(newDrainCmd(false))
}

// controlFlags locate the local agent's authenticated control API.
type controlFlags struct {
	agent     string
	tokenFile string
}

func (f *controlFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.agent, "agent", "http://127.0.0.1:9178", "base URL of the agent (exporters.listen)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "/etc/anydiag/token", "file holding the agent's bearer token (exporters.token_file)")
}

// controlDecision is the part of a policy decision the CLI summarises; the
// JSON output passes the agent's decisions through unchanged.
type controlDecision struct {
	Time       time.Time    `json:"time"`
	Prefix     netip.Prefix `json:"prefix"`
	Action     string       `json:"action"`
	Source     string       `json:"source"`
	Reason     string       `json:"reason"`
	Outcome    string       `json:"outcome"`
	Guard      string       `json:"guard"`
	RetryAfter float64      `json:"retry_after_seconds"`
	Error      string       `json:"error"`
}

// controlReply is what the control API answers: the decisions on success,
// an error with the decisions when the policy could not carry them out.
type controlReply struct {
	Error     string            `json:"error"`
	Decisions []json.RawMessage `json:"decisions"`
}

// post sends one control request, prints one line per decision the agent
// took (the decisions themselves with --json) and turns a refused or failed
// request into exit 1. verb is the command's name; prefix is the prefix
// asked for (invalid for drain and undrain).
func (f *controlFlags) post(cmd *cobra.Command, verb, path string, prefix netip.Prefix, body any) error {
	tok, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return usageErr("--token-file: %v", err)
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(f.agent, "/")+path, bytes.NewReader(b))
	if err != nil {
		return usageErr("--agent: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return runtimeErr(fmt.Errorf("agent %s: %w (is `anydiag agent` running there?)", f.agent, err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var reply controlReply
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(raw, &reply.Decisions)
	} else {
		err = json.Unmarshal(raw, &reply)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return usageErr("agent refused the token in %s", f.tokenFile)
	case resp.StatusCode == http.StatusNotFound:
		return runtimeErr(fmt.Errorf("agent %s does not serve %s: the control API needs exporters.token_file and a speaker in the agent's configuration", f.agent, path))
	case err != nil:
		return runtimeErr(fmt.Errorf("agent %s: %s: %s", f.agent, resp.Status, bytes.TrimSpace(raw)))
	case resp.StatusCode == http.StatusBadRequest:
		return usageErr("agent rejected the request: %s", reply.Error)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict:
		return runtimeErr(fmt.Errorf("agent %s: %s: %s", f.agent, resp.Status, reply.Error))
	}

	// A decision with no prefix means "nothing to change"; it is left out.
	var ds []controlDecision
	out := []json.RawMessage{}
	for _, r := range reply.Decisions {
		var d controlDecision
		if err := json.Unmarshal(r, &d); err != nil {
			return runtimeErr(fmt.Errorf("agent %s: decoding a decision: %w", f.agent, err))
		}
		if !d.Prefix.IsValid() {
			continue
		}
		ds = append(ds, d)
		out = append(out, r)
	}
	if perr := emit(cmd, out, func(w io.Writer) error {
		if len(ds) == 0 {
			_, err := fmt.Fprintln(w, nothingToDo(verb, prefix))
			return err
		}
		for _, d := range ds {
			if _, err := fmt.Fprintln(w, summary(verb, d)); err != nil {
				return err
			}
		}
		return nil
	}); perr != nil {
		return perr
	}

	var refused, failed int
	for _, d := range ds {
		switch d.Outcome {
		case "refused":
			refused++
		case "failed":
			failed++
		}
	}
	switch {
	case reply.Error != "":
		return &exitError{code: exitFindings, err: fmt.Errorf("%s failed: %s", verb, reply.Error)}
	case failed > 0:
		return &exitError{code: exitFindings, err: fmt.Errorf("%s failed for %d prefix(es): the speaker did not carry it out", verb, failed)}
	case refused > 0 && verb == "withdraw":
		return &exitError{code: exitFindings, err: fmt.Errorf("withdraw refused: the prefix stays announced")}
	case refused > 0 && verb == "drain":
		return &exitError{code: exitFindings, err: fmt.Errorf("drain refused for %d prefix(es): they stay announced until the guard allows (the drain stays; anydiag undrain cancels it)", refused)}
	}
	return nil
}

// summary is one line saying what became of a decision of the command verb.
func summary(verb string, d controlDecision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", d.Prefix)
	past := map[string]string{"withdraw": "withdrawn", "announce": "announced", "degrade": "degraded"}[d.Action]
	if past == "" {
		past = d.Action
	}
	switch d.Outcome {
	case "applied":
		fmt.Fprintf(&b, "%s (%s)", past, d.Reason)
	case "refused":
		fmt.Fprintf(&b, "%s REFUSED by the %s: %s", d.Action, guardName(d.Guard), d.Reason)
		if d.RetryAfter > 0 {
			fmt.Fprintf(&b, "; retry in %s", (time.Duration(d.RetryAfter * float64(time.Second))).Round(time.Second))
		}
		if d.Action == "announce" {
			b.WriteString("; the policy announces it when the guard allows, if still healthy")
		}
	case "failed":
		fmt.Fprintf(&b, "%s FAILED: %s", d.Action, d.Error)
	case "dry-run":
		fmt.Fprintf(&b, "would be %s (dry run: nothing changed; %s)", past, d.Reason)
	case "unchanged":
		switch {
		case verb == "withdraw":
			fmt.Fprintf(&b, "already withdrawn; now held withdrawn until `anydiag announce %s`", d.Prefix)
		case d.Action == "withdraw":
			fmt.Fprintf(&b, "stays withdrawn (%s)", d.Reason)
		default:
			fmt.Fprintf(&b, "already %s (%s)", past, d.Reason)
		}
		if verb == "announce" {
			b.WriteString("; the manual hold is released")
		}
	case "waiting":
		fmt.Fprintf(&b, "%s waiting: the policy acts on its own when it may (%s)", d.Action, d.Reason)
	default:
		fmt.Fprintf(&b, "%s pending (%s)", d.Action, d.Reason)
	}
	return b.String()
}

// guardName says which guard refused, in words.
func guardName(g string) string {
	switch g {
	case "fleet_guard":
		return "fleet guard"
	case "self_dampening":
		return "self-dampening guard"
	case "rate_limit":
		return "withdrawal rate limit"
	case "hold_down":
		return "hold-down"
	case "canary":
		return "canary check"
	}
	return g + " guard"
}

// nothingToDo says what a request that changed no announcement did.
func nothingToDo(verb string, p netip.Prefix) string {
	switch verb {
	case "withdraw":
		return fmt.Sprintf("%s: already withdrawn; now held withdrawn until `anydiag announce %s`", p, p)
	case "announce":
		return fmt.Sprintf("%s: manual hold released; the announcement does not change now (why: anydiag policy explain)", p)
	case "drain":
		return "drained: every prefix was already withdrawn"
	default:
		return "undrained: nothing to announce now; the policy announces each prefix when it is healthy (why: anydiag policy explain)"
	}
}

// parsePrefixArg reads a PREFIX argument; a bare address means its host route.
func parsePrefixArg(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, usageErr("%q is not a prefix: write it like 192.0.2.1/32 or 2001:db8::1/128", s)
	}
	return p, nil
}

func newWithdrawCmd() *cobra.Command {
	var f controlFlags
	var reason string
	c := &cobra.Command{
		Use:   "withdraw PREFIX",
		Short: "Withdraw an anycast prefix from this node, through the policy's guards",
		Long: `withdraw asks the local agent to withdraw PREFIX and hold it withdrawn until
'anydiag announce PREFIX'. The request goes through the same policy as
automatic decisions, and it is written to the audit log with the reason.
It prints one line saying what happened (the decisions as JSON with --json).

Exit 0 when the prefix is withdrawn (or already was); 1 when the fleet guard
refused it (the prefix stays announced and no manual hold is kept: the line
says so) or the speaker failed to carry it out; 2 for a bad prefix, a
missing --reason or a token the agent refuses; 3 when the agent cannot be
reached.`,
		Example: `  anydiag withdraw 192.0.2.1/32 --reason "replacing line card"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			if reason == "" {
				return usageErr("--reason is required: it goes into the audit log")
			}
			return f.post(cmd, "withdraw", "/api/v1/control/withdraw", p, map[string]string{"prefix": p.String(), "reason": reason})
		},
	}
	f.add(c)
	c.Flags().StringVar(&reason, "reason", "", "why, for the audit log (required)")
	return c
}

func newAnnounceCmd() *cobra.Command {
	var f controlFlags
	c := &cobra.Command{
		Use:   "announce PREFIX",
		Short: "Release a manual withdrawal; the policy announces the prefix when healthy",
		Long: `announce clears a manual withdrawal or alert hold on PREFIX. The policy then
announces it if the health checks pass, the hold-down has passed and
self-dampening allows it; when a guard defers the announcement the line says
when it can happen, and the policy announces it then on its own.

Exit 0 when the hold is released (announced now or later), 1 when the
speaker failed to announce, 2 for a bad prefix or token, 3 when the agent
cannot be reached.`,
		Example: "  anydiag announce 192.0.2.1/32",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			return f.post(cmd, "announce", "/api/v1/control/announce", p, map[string]string{"prefix": p.String()})
		},
	}
	f.add(c)
	return c
}

func newDrainCmd(drain bool) func() *cobra.Command {
	return func() *cobra.Command {
		var f controlFlags
		use, short, path := "drain", "Withdraw every anycast prefix of this node for maintenance", "/api/v1/control/drain"
		if !drain {
			use, short, path = "undrain", "End maintenance: the policy announces the prefixes again when healthy", "/api/v1/control/undrain"
		}
		long := `drain withdraws every anycast prefix of this node for maintenance and keeps
them withdrawn until 'anydiag undrain' (across restarts when policy.drain_file
is set). It prints one line per prefix.

Exit 0 when every prefix is withdrawn; 1 when a guard refused or the speaker
failed for some prefix (those stay announced); 2 for a token the agent
refuses; 3 when the agent cannot be reached.`
		if !drain {
			long = `undrain ends a drain; the policy announces each prefix again when its health
checks pass and its guards allow. It prints one line per prefix announced.

Exit 0 when the drain is over, 1 when the speaker failed to announce a
prefix, 2 for a token the agent refuses, 3 when the agent cannot be reached.`
		}
		c := &cobra.Command{
			Use:     use,
			Short:   short,
			Long:    long,
			Example: "  anydiag " + use + " --agent http://127.0.0.1:9178",
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return f.post(cmd, use, path, netip.Prefix{}, struct{}{})
			},
		}
		f.add(c)
		return c
	}
}
