package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"go.yaml.in/yaml/v3"
)

func repoRoot(t *testing.T) string {
	return filepath.Join(examples(t), "..")
}

// docFiles are the READMEs and examples whose configuration must stay true.
func docFiles(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "README.md" || strings.HasPrefix(p, filepath.Join(root, "examples")+string(filepath.Separator)) && strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var yamlBlockRE = regexp.MustCompile("(?ms)^```ya?ml\n(.*?)^```")

// agentKeys are the top-level keys of the agent configuration.
var agentKeys = []string{"node", "anycast", "speaker", "health", "policy", "collectors", "exporters"}

// Every YAML block of a README that is a fragment of the agent
// configuration decodes and validates, completed with what it leaves out
// (a node, a prefix, the health check "web" rules name, a speaker): a
// renamed or removed key in the code fails here, not for a reader.
func TestREADMEConfigBlocksValidate(t *testing.T) {
	// What a fragment leaves out is appended after it, so the lines of
	// the problems are the block's own.
	base := map[string]string{
		"node":    "node: {name: docs}",
		"anycast": "anycast: {prefixes: [192.0.2.1/32]}",
		"health":  `health: {checks: [{name: web, type: tcp, address: "127.0.0.1:80"}]}`,
		"speaker": "speaker: {gobgp: {asn: 64500, router_id: 192.0.2.9, neighbors: [{address: 127.0.0.2, asn: 65001}]}}",
	}
	checked := 0
	for _, f := range docFiles(t) {
		if !strings.HasSuffix(f, "README.md") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range yamlBlockRE.FindAllStringSubmatchIndex(string(b), -1) {
			block := string(b[loc[2]:loc[3]])
			firstLine := strings.Count(string(b[:loc[2]]), "\n") + 1
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil || len(doc) == 0 {
				continue
			}
			agent := true
			for k := range doc {
				agent = agent && slices.Contains(agentKeys, k)
			}
			if !agent {
				continue
			}
			full := block
			for _, k := range agentKeys {
				if _, ok := doc[k]; !ok && base[k] != "" {
					full += base[k] + "\n"
				}
			}
			checked++
			c := Config{skipFiles: true}
			rel, _ := filepath.Rel(repoRoot(t), f)
			_, err := yamlconf.DecodeAll(rel, []byte(full), &c)
			var e *yamlconf.Error
			if errors.As(err, &e) {
				blockLines := strings.Count(block, "\n")
				for _, p := range e.Problems {
					if p.Line > 0 && p.Line <= blockLines {
						p.Line += firstLine - 1
					}
					t.Errorf("configuration block of %s: %s", rel, p)
				}
			} else if err != nil {
				t.Errorf("%s line %d: %v", rel, firstLine, err)
			}
		}
	}
	if checked < 5 {
		t.Errorf("only %d agent configuration blocks found in the READMEs", checked)
	}
}

var metricNameRE = regexp.MustCompile(`\banydiag_[a-z0-9_]+\b`)

// exportedNames collects every anydiag_* name written in the Go source
// (outside tests): a metric family the agent exports is named there.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range metricNameRE.FindAllString(string(b), -1) {
			names[n] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// The metric names the policy README and the examples use in PromQL (the
// fleet guard's query, alert rules) are names the code exports: a query on
// a metric that does not exist counts 0 PoPs and refuses every withdrawal.
func TestDocumentedMetricNamesExist(t *testing.T) {
	names := exportedNames(t)
	suffixes := []string{"_bucket", "_sum", "_count", "_total"}
	root := repoRoot(t)
	for _, rel := range []string{"README.md", "analyzers/policy/README.md", "examples/alertmanager.yml", "examples/agent.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricNameRE.FindAllString(string(b), -1) {
			ok := names[n]
			for _, s := range suffixes {
				ok = ok || names[strings.TrimSuffix(n, s)]
			}
			if !ok {
				t.Errorf("%s names %s, which no Go source of the agent exports", rel, n)
			}
		}
	}
}
