package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type shapes struct {
	Files  map[string]string `yaml:"files"`
	Names  []string          `yaml:"names"`
	Count  int               `yaml:"count"`
	MED    uint32            `yaml:"med"`
	On     bool              `yaml:"on"`
	Ratio  float64           `yaml:"ratio"`
	Label  string            `yaml:"label"`
	Inner  *struct{ A int }  `yaml:"inner"`
	Rules  []shapeRule       `yaml:"rules"`
	Hosted []HostPrefix      `yaml:"hosted"`
}

type shapeRule struct {
	Action string `yaml:"action"`
	When   struct {
		Check string `yaml:"check"`
		State string `yaml:"state"`
	} `yaml:"when"`
}

func (s *shapes) Hint(path string) string {
	if path == "files" {
		return "write it like {eth0: /tmp/eth0.bin}"
	}
	return ""
}

func (s *shapes) Validate(p *Problems) {
	if s.Label == "risky" {
		p.Warn("label", "risky but allowed")
	}
}

// goTypeRE matches what a user never wrote: Go type names and YAML tags.
var goTypeRE = regexp.MustCompile(`!!\w+|map\[|\[\]\w|yamlconf\.|main\.|\bint\b|uint32|float64|not found in type`)

func TestProblemsSpeakTheFileNotGo(t *testing.T) {
	cases := []struct {
		in, key, want string
	}{
		{"files: [a, b]", "files", "takes a mapping of names to text (name: value), not a list: write it like {eth0: /tmp/eth0.bin}"},
		{"names: {a: b}", "names", "takes a list"},
		{"count: many", "count", `takes a whole number, not the text "many"`},
		{"med: -1", "med", "whole number, 0 or more, not the number -1"},
		{"on: maybe", "on", "true or false"},
		{"ratio: x", "ratio", "takes a number"},
		{"label: [1]", "label", "takes a text value, not a list"},
		{"inner: 3", "inner", "takes a section (a mapping of keys), not the number 3"},
		{"rules: {action: withdraw}", "rules", "takes a list of sections"},
		{"colour: blue", "colour", `unknown key "colour"; valid keys here: count, files, hosted, inner, label, med, names, on, ratio, rules`},
		{"rules:\n  - acton: withdraw", "rules[0].acton", `unknown key "acton" (did you mean "action"?); valid keys here: action, when`},
		{"rules:\n  - {action: withdraw, when: {check: a, stat: down}}", "rules[0].when.stat", `(did you mean "state"?); valid keys here: check, state`},
	}
	for _, c := range cases {
		var s shapes
		err := Decode("f.yaml", []byte(c.in), &s)
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 {
			t.Errorf("%q: want one problem, got %v", c.in, err)
			continue
		}
		p := e.Problems[0]
		if p.Key != c.key || !strings.Contains(p.Msg, c.want) || p.Line == 0 {
			t.Errorf("%q: got key %q line %d msg %q; want key %q msg containing %q", c.in, p.Key, p.Line, p.Msg, c.key, c.want)
		}
		if m := goTypeRE.FindString(p.Msg); m != "" {
			t.Errorf("%q: message shows %q: %s", c.in, m, p.Msg)
		}
	}
}

func TestWarningsComeBackWithoutError(t *testing.T) {
	var s shapes
	warns, err := DecodeAll("f.yaml", []byte("count: 1\nlabel: risky\n"), &s)
	if err != nil || len(warns) != 1 || warns[0].Severity != SeverityWarning || warns[0].Line != 2 {
		t.Fatalf("warnings %+v, err %v", warns, err)
	}
	if !strings.Contains(warns[0].String(), "f.yaml:2: warning: label: risky") {
		t.Errorf("String() = %s", warns[0])
	}
	if err := Decode("f.yaml", []byte("label: risky\n"), &s); err != nil {
		t.Errorf("a warning made Decode fail: %v", err)
	}
}

// A huge file is refused before it is parsed (a 100 MB file once took 48 s
// and 3 GB to validate).
func TestHugeFileIsRefusedBeforeParsing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("  - 192.0.2.1/32\n")
	chunk := []byte(strings.Repeat(string(line), 1<<16))
	f.WriteString("hosted:\n")
	for written := 0; written < 100<<20; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	var s shapes
	err = Load(path, &s)
	if err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") {
		t.Fatalf("got %v", err)
	}
	if len(s.Hosted) != 0 {
		t.Errorf("the file was decoded (%d entries) before being refused", len(s.Hosted))
	}
	if err := Decode("mem.yaml", make([]byte, MaxFileBytes+1), &s); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Decode of %d bytes: %v", MaxFileBytes+1, err)
	}
}

// A file that grows past the cap while being read (a pipe, /dev/zero) is
// cut off at the cap rather than read to the end.
func TestUnboundedSourceIsCutOff(t *testing.T) {
	var s shapes
	err := Load("/dev/zero", &s)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

// Shapes that make the decoder slow (a huge mapping: it compares every key
// with the ones before it; a huge list; too many nodes) are refused before
// decoding, each naming its limit.
func TestOversizedShapesAreRefusedBeforeDecoding(t *testing.T) {
	var keys, items, nodes strings.Builder
	for i := range MaxMapKeys + 1 {
		fmt.Fprintf(&keys, "k%d: 1\n", i)
	}
	items.WriteString("names:\n")
	for range MaxListItems + 1 {
		items.WriteString("  - a\n")
	}
	nodes.WriteString("rules:\n")
	for range MaxNodes/8 + 1 {
		nodes.WriteString("  - {action: a, when: {check: b, state: c}}\n")
	}
	cases := []struct {
		name, doc, want string
	}{
		{"mapping", keys.String(), "a mapping of 1025 keys, more than the 1024"},
		{"list", items.String(), "names: a list of 4097 items, more than the 4096"},
		{"nodes", nodes.String(), "more than the 50000 a configuration may have"},
	}
	for _, c := range cases {
		var s shapes
		err := Decode("big.yaml", []byte(c.doc), &s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v", c.name, err)
		}
		if len(s.Names) != 0 || len(s.Rules) != 0 {
			t.Errorf("%s: decoded before being refused", c.name)
		}
	}
}
