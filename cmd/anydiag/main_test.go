package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/spf13/cobra"
	"strings"
	"testing"
)

// runCLI runs one command line in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"version", "--no-such-flag"}, exitUsage},
		{[]string{"config", "check", "../../examples/agent.yaml"}, exitOK},
		{[]string{"config", "check", "../../examples/broken/agent.yaml"}, exitUsage},
		{[]string{"config", "check"}, exitUsage},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, c.args...)
		if code != c.code {
			t.Errorf("anydiag %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, out, errs)
		}
	}
}

func TestJSONIsOneDocument(t *testing.T) {
	for _, args := range [][]string{
		{"version", "--json"},
		{"findings", "codes", "--json"},
		{"config", "check", "--json", "../../examples/broken/agent.yaml"},
	} {
		_, out, _ := runCLI(t, args...)
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Errorf("anydiag %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		if dec.More() {
			t.Errorf("anydiag %s: more than one JSON document", strings.Join(args, " "))
		}
	}
}

func TestConfigCheckListsEveryProblem(t *testing.T) {
	_, out, _ := runCLI(t, "config", "check", "../../examples/broken/agent.yaml")
	for _, want := range []string{":5: node.continent:", ":10: anycast.prefixes[1]:", ":23: exporters.colour:", "12 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Every command documents a real example in --help.
func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRootCmd()
	for _, c := range root.Commands() {
		stack := []*cobra.Command{c}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if cur.Hidden || cur.Name() == "help" || cur.Name() == "completion" {
				continue
			}
			if cur.Runnable() && strings.TrimSpace(cur.Example) == "" {
				t.Errorf("%q has no Example in --help", cur.CommandPath())
			}
			stack = append(stack, cur.Commands()...)
		}
	}
}
