package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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
		{[]string{"config", "check", "--skip-files", "../../examples/agent.yaml"}, exitOK},
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
	for _, want := range []string{":5: node.continent:", ":10: anycast.prefixes[1]:", ":23: exporters.colour:", ":28: policy.rules[0].when.check:", "15 problem(s)"} {
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
			if cur.Runnable() && !cur.HasSubCommands() && strings.TrimSpace(cur.Example) == "" {
				t.Errorf("%q has no Example in --help", cur.CommandPath())
			}
			stack = append(stack, cur.Commands()...)
		}
	}
}

// A typo in a subcommand, a table or a namespace is a usage error (exit 2)
// that names what would have been valid.
func TestUnknownNamesExitTwoWithSuggestions(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"config", "chek", "x.yaml"}, []string{`unknown command "chek" for "anydiag config"`, `did you mean "check"?`}},
		{[]string{"bgp", "peer"}, []string{`unknown command "peer" for "anydiag bgp"`, `did you mean "peers"?`, "routes"}},
		{[]string{"polcy"}, []string{`did you mean "policy"?`}},
		{[]string{"bgp", "routes", "192.0.2.0/24", "--table", "adj-in"}, []string{`--table "adj-in"`, "adj-rib-in-pre, adj-rib-in-post, adj-rib-out-pre, adj-rib-out-post, loc-rib"}},
		{[]string{"bgp", "routes", "192.0.2.0/33"}, []string{"is not a prefix: write it like 192.0.2.0/24"}},
		{[]string{"doctor", "--netns", "anydiag-h4-no-such-ns", "--interval", "0"}, []string{`--netns "anydiag-h4-no-such-ns": no such network namespace`}},
		{[]string{"links", "--netns", "../etc"}, []string{"not a path"}},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, c.args...)
		if code != exitUsage {
			t.Errorf("anydiag %s: exit %d, want 2\n%s%s", strings.Join(c.args, " "), code, out, errs)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("anydiag %s: stderr lacks %q:\n%s", strings.Join(c.args, " "), w, errs)
			}
		}
	}
	// A group without a subcommand shows its help.
	if code, out, _ := runCLI(t, "bgp"); code != exitOK || !strings.Contains(out, "Available Commands") {
		t.Errorf("anydiag bgp: exit %d\n%s", code, out)
	}
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every command that reads the agent's configuration refuses what the agent
// refuses, and no message shows a Go type.
func TestConfigReadersShareTheAgentsValidation(t *testing.T) {
	short := writeFile(t, "token", "s3cret", 0o600)
	bad := writeFile(t, "agent.yaml", `node: {name: a}
anycast: {prefixes: [192.0.2.1/32]}
health: {checks: [{name: web, type: tcp, address: '127.0.0.1:80', interval: 1s, timeout: 500ms}]}
speaker: {frr: {asn: 64500}}
policy:
  degrade: {med: 100}
  rules:
    - {when: {check: wbe, state: down}, action: withdraw}
    - {when: {check: web, state: down}, action: degrade, prefixes: [192.0.2.7/32]}
collectors: {optics: {eeprom_files: [/tmp/eth0.bin]}}
exporters: {token_file: `+short+`}
`, 0o644)
	wants := []string{
		`no health check is named "wbe"`, "192.0.2.7/32 is not one of anycast.prefixes",
		"the frr speaker cannot", "fewer than 16", "eeprom_files maps an interface name",
	}
	for _, args := range [][]string{
		{"config", "check", bad},
		{"policy", "explain", "--config", bad},
		{"doctor", "--config", bad, "--interval", "0"},
	} {
		code, out, errs := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("anydiag %s: exit %d, want 2\n%s%s", strings.Join(args[:2], " "), code, out, errs)
		}
		// eeprom_files is a type error: the cross checks run on what decoded.
		for _, w := range wants {
			if !strings.Contains(out+errs, w) {
				t.Errorf("anydiag %s: output lacks %q:\n%s%s", strings.Join(args[:2], " "), w, out, errs)
			}
		}
		if m := goTypeRE.FindString(out + errs); m != "" {
			t.Errorf("anydiag %s shows %q:\n%s%s", strings.Join(args[:2], " "), m, out, errs)
		}
	}
	// The bgp commands' --config given the agent's file says so.
	code, out, errs := runCLI(t, "bgp", "visibility", "--config", bad, "--prefix", "192.0.2.0/24")
	if code != exitUsage || !strings.Contains(errs, "looks like the agent's configuration") || goTypeRE.MatchString(errs) {
		t.Errorf("bgp visibility --config agent.yaml: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "bgp", "why", "192.0.2.0/24", "--config", writeFile(t, "bgp.yaml", "visibility: {pops: {fra: x}}\n", 0o644))
	if code != exitUsage || !strings.Contains(errs, "takes a list of sections") || goTypeRE.MatchString(errs) {
		t.Errorf("bgp why with a wrong shape: exit %d\n%s%s", code, out, errs)
	}
}

var goTypeRE = regexp.MustCompile(`!!\w+|map\[|\[\]\w|main\.|\w+\.Config\b|not found in type|cannot unmarshal`)

// config check: 0 valid, 1 valid with warnings (printed), 2 refused; files
// over 1 MiB are refused before parsing.
func TestConfigCheckWarningsAndSize(t *testing.T) {
	ok := writeFile(t, "ok.yaml", "node: {name: a}\nanycast: {prefixes: [192.0.2.1/32]}\n", 0o644)
	if code, out, errs := runCLI(t, "config", "check", ok); code != exitOK {
		t.Errorf("valid: exit %d\n%s%s", code, out, errs)
	}
	warn := writeFile(t, "warn.yaml", "node: {name: a}\nanycast: {prefixes: [192.0.2.1/32]}\nexporters: {listen: '0.0.0.0:9178', alertmanager: {insecure: true}}\n", 0o644)
	code, out, errs := runCLI(t, "config", "check", warn)
	if code != exitFindings || !strings.Contains(out, ":3: warning: exporters.listen:") || !strings.Contains(out, "warning: exporters.alertmanager.insecure") || !strings.Contains(out, "2 warning(s)") {
		t.Errorf("warnings: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "config", "check", warn, "--json")
	var r struct {
		Valid    bool             `json:"valid"`
		Warnings []map[string]any `json:"warnings"`
	}
	if code != exitFindings || json.Unmarshal([]byte(out), &r) != nil || !r.Valid || len(r.Warnings) != 2 {
		t.Errorf("warnings --json: exit %d\n%s", code, out)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 2<<20/10), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "config", "check", big); code != exitUsage || !strings.Contains(out, "larger than 1024 KiB") {
		t.Errorf("big file: exit %d\n%s%s", code, out, errs)
	}
}
