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
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Key  string `json:"key"`
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
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
	path string
	msg  string
}

// Add records a problem at a key path.
func (p *Problems) Add(path, format string, a ...any) {
	p.list = append(p.list, pathProblem{path: path, msg: fmt.Sprintf(format, a...)})
}

// Len is the number of problems recorded so far.
func (p *Problems) Len() int { return len(p.list) }

// Validator is implemented by configuration structs that check relations
// between fields after decoding. Paths are relative to the document root.
type Validator interface {
	Validate(p *Problems)
}

// Load reads and decodes a file; see Decode.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{Problems: []Problem{{File: path, Msg: err.Error()}}}
	}
	return Decode(path, b, v)
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// Decode decodes data into v with unknown keys forbidden, collects type and
// value errors, then runs v's Validate method if it has one. All problems are
// returned together as *Error.
func Decode(file string, data []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &Error{Problems: []Problem{syntaxProblem(file, err)}}
	}
	idx := indexNodes(&root)
	var probs []Problem

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			probs = append(probs, typeProblem(file, msg, idx))
		}
	default:
		return &Error{Problems: []Problem{syntaxProblem(file, err)}}
	}

	if val, ok := v.(Validator); ok {
		var ps Problems
		val.Validate(&ps)
		for _, pp := range ps.list {
			probs = append(probs, Problem{File: file, Line: idx.lineOf(pp.path), Key: pp.path, Msg: pp.msg})
		}
	}
	if len(probs) == 0 {
		return nil
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return &Error{Problems: probs}
}

func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Msg: msg}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = m[2]
	}
	return p
}

var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

func typeProblem(file, msg string, idx *nodeIndex) Problem {
	p := Problem{File: file, Msg: msg}
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return p
	}
	p.Line, _ = strconv.Atoi(m[1])
	p.Msg = m[2]
	p.Key = idx.pathAt(p.Line)
	if f := unknownFieldRE.FindStringSubmatch(p.Msg); f != nil {
		p.Msg = fmt.Sprintf("unknown key %q", f[1])
	} else {
		p.Msg = strings.Replace(p.Msg, "cannot unmarshal", "wrong type: cannot use", 1)
	}
	return p
}

// nodeIndex maps key paths to lines and back.
type nodeIndex struct {
	lines map[string]int
	paths map[int]string
}

func indexNodes(root *yaml.Node) *nodeIndex {
	idx := &nodeIndex{lines: map[string]int{}, paths: map[int]string{}}
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
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				idx.add(p, k.Line)
				walk(val, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				idx.add(p, c.Line)
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return idx
}

func (x *nodeIndex) add(path string, line int) {
	x.lines[path] = line
	if _, ok := x.paths[line]; !ok {
		x.paths[line] = path
	}
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

func (x *nodeIndex) pathAt(line int) string { return x.paths[line] }

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
