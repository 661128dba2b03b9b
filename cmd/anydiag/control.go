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

// post sends one control request and prints the decisions the agent took.
func (f *controlFlags) post(cmd *cobra.Command, path string, body any) error {
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
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return runtimeErr(fmt.Errorf("agent %s: %s: %s", f.agent, resp.Status, bytes.TrimSpace(raw)))
	}
	if perr := emit(cmd, v, func(w io.Writer) error {
		pretty, _ := json.MarshalIndent(v, "", "  ")
		_, err := fmt.Fprintf(w, "%s\n", pretty)
		return err
	}); perr != nil {
		return perr
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return usageErr("agent refused the token in %s", f.tokenFile)
	case resp.StatusCode == http.StatusBadRequest:
		return usageErr("agent rejected the request: %s", resp.Status)
	case resp.StatusCode == http.StatusConflict:
		return &exitError{code: exitFindings, err: fmt.Errorf("the policy refused or could not apply the change (see the decision above)")}
	case resp.StatusCode >= 300:
		return runtimeErr(fmt.Errorf("agent %s: %s", f.agent, resp.Status))
	}
	return nil
}

func newWithdrawCmd() *cobra.Command {
	var f controlFlags
	var reason string
	c := &cobra.Command{
		Use:   "withdraw PREFIX",
		Short: "Withdraw an anycast prefix from this node, through the policy's guards",
		Long: `withdraw asks the local agent to withdraw PREFIX and hold it withdrawn until
'anydiag announce PREFIX'. The request goes through the same policy as
automatic decisions: the fleet guard may refuse it (exit 1), and it is
written to the audit log with the reason.`,
		Example: `  anydiag withdraw 192.0.2.1/32 --reason "replacing line card"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := netip.ParsePrefix(args[0])
			if err != nil {
				return usageErr("prefix %q: %v", args[0], err)
			}
			if reason == "" {
				return usageErr("--reason is required: it goes into the audit log")
			}
			return f.post(cmd, "/api/v1/control/withdraw", map[string]string{"prefix": p.String(), "reason": reason})
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
self-dampening allows it.`,
		Example: "  anydiag announce 192.0.2.1/32",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := netip.ParsePrefix(args[0])
			if err != nil {
				return usageErr("prefix %q: %v", args[0], err)
			}
			return f.post(cmd, "/api/v1/control/announce", map[string]string{"prefix": p.String()})
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
		c := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: "  anydiag " + use + " --agent http://127.0.0.1:9178",
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return f.post(cmd, path, struct{}{})
			},
		}
		f.add(c)
		return c
	}
}
