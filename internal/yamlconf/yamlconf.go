// Package yamlconf decodes YAML configuration strictly and reports every
// problem at once, each with its file, line and key: unknown keys, wrong
// types, and invalid values found by the validated types of this package or
// by a Validate method on the decoded struct.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes caps the size of a configuration file: a real one is a few
// kilobytes, and the YAML decoder spends about a second of CPU per MiB (a
// 100 MB file took 48 s and 3 GB), so Load and Decode refuse anything
// larger before parsing it.
const MaxFileBytes = 1 << 20

// MaxNodes caps the keys, values and items of a file (a real one has about
// a thousand); past it the file is refused after parsing, before decoding.
const MaxNodes = 50000

// MaxListItems caps every list of a configuration file; a longer one is
// refused before it is decoded (the agent's own caps, such as 1024
// anycast prefixes, are lower and checked by the configuration itself).
const MaxListItems = 4096

// MaxMapKeys caps the keys of every mapping of a configuration file: the
// YAML decoder checks each key against the ones before it, so a mapping
// of a hundred thousand keys takes minutes.
const MaxMapKeys = 1024

// maxProblems is how many problems an Error lists; a file with more is
// summed up in one last problem rather than printed in full.
const maxProblems = 100

// Severities of a Problem: an error makes the file unusable, a warning is
// risky but accepted.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Key      string `json:"key"`
	Msg      string `json:"message"`
	Severity string `json:"severity"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem of a file; it is what Load and Decode return.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d configuration problem(s):\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

// Problems collects semantic problems by key path ("anycast.prefixes[1]").
// A Validate method receives one; the decoder maps each path to its line.
type Problems struct {
	list []pathProblem
}

type pathProblem struct {
	path    string
	msg     string
	warning bool
}

// Join appends key to the key path path ("" is the file's top), the way
// problems name keys: Join("speaker.gobgp", "asn") is "speaker.gobgp.asn".
// A Check(p, path) method names its keys with it, so the same section reads
// the same whether it is checked alone or inside the agent's file.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Add records a problem at a key path.
func (p *Problems) Add(path, format string, a ...any) {
	p.list = append(p.list, pathProblem{path: path, msg: fmt.Sprintf(format, a...)})
}

// Warn records a warning at a key path: the file stays usable, but the
// setting is risky (config check prints it and exits 1).
func (p *Problems) Warn(path, format string, a ...any) {
	p.list = append(p.list, pathProblem{path: path, msg: fmt.Sprintf(format, a...), warning: true})
}

// Len is the number of errors (not warnings) recorded so far.
func (p *Problems) Len() int {
	n := 0
	for _, pp := range p.list {
		if !pp.warning {
			n++
		}
	}
	return n
}

// Validator is implemented by configuration structs that check relations
// between fields after decoding. Paths are relative to the document root.
type Validator interface {
	Validate(p *Problems)
}

// Hinter is implemented by configuration structs that explain the shape of
// some keys: Hint returns a sentence added to a wrong-type problem at path
// (indices written as [], e.g. "rules[].prefixes"), or "".
type Hinter interface {
	Hint(path string) string
}

// Load reads and decodes a file; see Decode.
func Load(path string, v any) error {
	_, err := LoadAll(path, v)
	return err
}

// LoadAll reads and decodes a file, returning the warnings besides the
// error; see DecodeAll.
func LoadAll(path string, v any) ([]Problem, error) {
	b, err := readCapped(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: err.Error(), Severity: SeverityError}}}
	}
	return DecodeAll(path, b, v)
}

// readCapped reads a regular file of at most MaxFileBytes without reading
// more than that from whatever path names.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileBytes {
		return nil, tooLarge(st.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, tooLarge(int64(len(b)))
	}
	return b, nil
}

func tooLarge(n int64) error {
	more := ""
	if n > MaxFileBytes {
		more = fmt.Sprintf(" (%d bytes or more)", n)
	}
	return fmt.Errorf("the file is larger than %d KiB%s: a configuration file is a few kilobytes; is this the right file?", MaxFileBytes>>10, more)
}

var lineRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// Decode decodes data into v with unknown keys forbidden, collects type and
// value errors, then runs v's Validate method if it has one. All problems are
// returned together as *Error; warnings are dropped (see DecodeAll).
func Decode(file string, data []byte, v any) error {
	_, err := DecodeAll(file, data, v)
	return err
}

// DecodeAll is Decode returning the warnings too. The error, when not nil,
// is an *Error listing the errors only; the warnings come back either way.
func DecodeAll(file string, data []byte, v any) ([]Problem, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Problems: []Problem{{File: file, Msg: tooLarge(int64(len(data))).Error(), Severity: SeverityError}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []Problem{syntaxProblem(file, err)}}
	}
	if n := countNodes(&root); n > MaxNodes {
		return nil, &Error{Problems: []Problem{{File: file, Severity: SeverityError,
			Msg: fmt.Sprintf("%d keys, values and list items, more than the %d a configuration may have: is this the right file?", n, MaxNodes)}}}
	}
	if long := longLists(file, &root); len(long) > 0 {
		return nil, &Error{Problems: long}
	}
	idx := indexNodes(&root)
	var probs, warns []Problem
	hint, _ := v.(Hinter)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
		// Explaining a problem costs a lookup; past the number printed,
		// the rest are only counted.
		for i, msg := range te.Errors {
			if i == maxProblems {
				probs = append(probs, Problem{File: file, Line: math.MaxInt32, Severity: SeverityError,
					Msg: fmt.Sprintf("and %d more wrong keys or values", len(te.Errors)-maxProblems)})
				break
			}
			probs = append(probs, typeProblem(file, msg, idx, reflect.TypeOf(v), hint))
		}
	default:
		return nil, &Error{Problems: []Problem{syntaxProblem(file, err)}}
	}

	if val, ok := v.(Validator); ok {
		var ps Problems
		val.Validate(&ps)
		for _, pp := range ps.list {
			pr := Problem{File: file, Line: idx.lineOf(pp.path), Key: pp.path, Msg: pp.msg, Severity: SeverityError}
			if pp.warning {
				pr.Severity = SeverityWarning
				warns = append(warns, pr)
				continue
			}
			probs = append(probs, pr)
		}
	}
	sort.SliceStable(warns, func(i, j int) bool { return warns[i].Line < warns[j].Line })
	if len(probs) == 0 {
		return warns, nil
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	if n := len(probs); n > maxProblems {
		probs = append(probs[:maxProblems], Problem{File: file, Severity: SeverityError,
			Msg: fmt.Sprintf("and %d more problems: is this the right file?", n-maxProblems)})
	}
	return warns, &Error{Problems: probs}
}

func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// longLists finds the lists longer than MaxListItems and the mappings with
// more than MaxMapKeys keys, before the decoder and the path index spend
// seconds on them.
func longLists(file string, root *yaml.Node) []Problem {
	var out []Problem
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if len(out) >= maxProblems {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			if k := len(n.Content) / 2; k > MaxMapKeys {
				out = append(out, Problem{File: file, Line: n.Line, Key: path, Severity: SeverityError,
					Msg: fmt.Sprintf("a mapping of %d keys, more than the %d any mapping may have", k, MaxMapKeys)})
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], Join(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			if len(n.Content) > MaxListItems {
				out = append(out, Problem{File: file, Line: n.Line, Key: path, Severity: SeverityError,
					Msg: fmt.Sprintf("a list of %d items, more than the %d any list may have", len(n.Content), MaxListItems)})
				return
			}
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return out
}

func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Msg: msg, Severity: SeverityError}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = m[2]
	}
	return p
}

var unknownFieldRE = regexp.MustCompile(`(?s)^field (.*?) not found in type .+$`)

func typeProblem(file, msg string, idx *nodeIndex, root reflect.Type, hint Hinter) Problem {
	p := Problem{File: file, Msg: msg, Severity: SeverityError}
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		p.Msg = humanTypeMsg(msg)
		return p
	}
	p.Line, _ = strconv.Atoi(m[1])
	p.Msg = m[2]
	p.Key = idx.valueAt(p.Line, p.Msg)
	if f := unknownFieldRE.FindStringSubmatch(p.Msg); f != nil {
		p.Key = idx.keyAt(p.Line, f[1])
		p.Msg = unknownKeyMsg(f[1], keysAt(root, parentPath(p.Key)))
		return p
	}
	p.Msg = humanTypeMsg(p.Msg)
	if hint != nil {
		if h := hint.Hint(indexFree(p.Key)); h != "" {
			p.Msg += ": " + h
		}
	}
	return p
}

// nodeIndex maps key paths to lines and back.
type nodeIndex struct {
	lines map[string]int
	paths map[int][]string // in document order
	nodes map[string]*yaml.Node
}

func indexNodes(root *yaml.Node) *nodeIndex {
	idx := &nodeIndex{lines: map[string]int{}, paths: map[int][]string{}, nodes: map[string]*yaml.Node{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := Join(path, k.Value)
				idx.add(p, k.Line, val)
				walk(val, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				idx.add(p, c.Line, c)
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return idx
}

func (x *nodeIndex) add(path string, line int, val *yaml.Node) {
	x.lines[path] = line
	x.paths[line] = append(x.paths[line], path)
	x.nodes[path] = val
}

// lineOf finds the line of path, or of its nearest ancestor present in the file.
func (x *nodeIndex) lineOf(path string) int {
	for path != "" {
		if l, ok := x.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (x *nodeIndex) pathAt(line int) string {
	if ps := x.paths[line]; len(ps) > 0 {
		return ps[0]
	}
	return ""
}

var foundRE = regexp.MustCompile("(?s)cannot unmarshal !!(\\w+)(?: `(.*)`)? into")

// valueAt finds the path whose value the decoder refused on line: in flow
// style ({a: {b: [x]}}) several keys share a line, and the one whose value
// has the refused YAML type is meant.
func (x *nodeIndex) valueAt(line int, msg string) string {
	m := foundRE.FindStringSubmatch(msg)
	if m == nil {
		return x.pathAt(line)
	}
	for _, p := range x.paths[line] {
		n := x.nodes[p]
		if n == nil || n.Alias != nil {
			continue
		}
		switch {
		case m[1] == "seq" && n.Kind == yaml.SequenceNode,
			m[1] == "map" && n.Kind == yaml.MappingNode,
			n.Kind == yaml.ScalarNode && n.ShortTag() == "!!"+m[1] && n.Value == m[2]:
			return p
		}
	}
	return x.pathAt(line)
}

// keyAt finds the path of key written on line (several keys share a line in
// flow style: {a: 1, b: 2}); the first path of the line when none matches.
func (x *nodeIndex) keyAt(line int, key string) string {
	best := ""
	for _, p := range x.paths[line] {
		if (p == key || strings.HasSuffix(p, "."+key)) && (best == "" || len(p) < len(best)) {
			best = p
		}
	}
	if best == "" {
		return x.pathAt(line)
	}
	return best
}

// Err returns the recorded problems as one error ("path: message; ..."), nil
// when there are none: for configurations built in code rather than decoded
// from a file, which have no lines to point at.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	msgs := make([]string, len(p.list))
	for i, pp := range p.list {
		msgs[i] = pp.msg
		if pp.path != "" {
			msgs[i] = pp.path + ": " + pp.msg
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
