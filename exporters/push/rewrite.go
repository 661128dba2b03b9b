package push

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/anydiag/anydiag/exporters/prometheus"
)

// label is one extra label.
type label struct{ name, value string }

func sortedLabels(m map[string]string) []label {
	out := make([]label, 0, len(m))
	for n, v := range m {
		out = append(out, label{n, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// rewrite copies Prometheus text from src to w, setting the extra labels on
// every sample (replacing labels of the same name) and giving samples
// without a timestamp tsMillis. Comment lines pass unchanged; blank lines
// are dropped. A malformed sample line is an error naming its line number.
func rewrite(w io.Writer, src []byte, extra []label, tsMillis int64) error {
	var extraText []byte
	for i, l := range extra {
		if i > 0 {
			extraText = append(extraText, ',')
		}
		extraText = append(extraText, l.name...)
		extraText = append(extraText, `="`...)
		extraText = append(extraText, prometheus.Label(l.value)...)
		extraText = append(extraText, '"')
	}
	ts := strconv.AppendInt(nil, tsMillis, 10)
	bw := bufio.NewWriter(w)
	var out []byte
	for n := 1; len(src) > 0; n++ {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var err error
		if line[0] == '#' {
			out = append(append(out[:0], line...), '\n')
		} else if out, err = rewriteSample(out[:0], line, extra, extraText, ts); err != nil {
			return fmt.Errorf("metrics text line %d: %w: %.80q", n, err, line)
		}
		if _, err := bw.Write(out); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func isNameChar(c byte, first bool) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// rewriteSample appends the rewritten sample line to dst.
func rewriteSample(dst, line []byte, extra []label, extraText, ts []byte) ([]byte, error) {
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return nil, fmt.Errorf("no metric name")
	}
	dst = append(dst, line[:i]...)
	dst = append(dst, '{')
	wrote := false
	if i < len(line) && line[i] == '{' {
		i++
		for {
			i = skipSpace(line, i)
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			start := i
			for i < len(line) && isNameChar(line[i], i == start) && line[i] != ':' {
				i++
			}
			if i == start {
				return nil, fmt.Errorf("label name expected at byte %d", i)
			}
			name := line[start:i]
			i = skipSpace(line, i)
			if i >= len(line) || line[i] != '=' {
				return nil, fmt.Errorf("= expected after label %s", name)
			}
			i = skipSpace(line, i+1)
			if i >= len(line) || line[i] != '"' {
				return nil, fmt.Errorf("quoted value expected for label %s", name)
			}
			i++
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unterminated value of label %s", name)
			}
			i++
			if !hasLabel(extra, name) {
				if wrote {
					dst = append(dst, ',')
				}
				dst = append(dst, line[start:i]...)
				wrote = true
			}
			i = skipSpace(line, i)
			if i < len(line) && line[i] == ',' {
				i++
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return nil, fmt.Errorf(", or } expected after label %s", name)
		}
	}
	if len(extraText) > 0 {
		if wrote {
			dst = append(dst, ',')
		}
		dst = append(dst, extraText...)
		wrote = true
	}
	if wrote {
		dst = append(dst, '}')
	} else {
		dst = dst[:len(dst)-1] // no labels at all: drop the '{'
	}
	if i >= len(line) || (line[i] != ' ' && line[i] != '\t') {
		return nil, fmt.Errorf("space and value expected after the labels")
	}
	value, i := field(line, i)
	stamp, i := field(line, i)
	if extraField, _ := field(line, i); len(value) == 0 || len(extraField) > 0 {
		return nil, fmt.Errorf("want a value and an optional timestamp after the labels")
	}
	if _, err := strconv.ParseFloat(string(value), 64); err != nil {
		return nil, fmt.Errorf("invalid value %q", value)
	}
	dst = append(dst, ' ')
	dst = append(dst, value...)
	dst = append(dst, ' ')
	if len(stamp) > 0 {
		if _, err := strconv.ParseInt(string(stamp), 10, 64); err != nil {
			return nil, fmt.Errorf("invalid timestamp %q", stamp)
		}
		dst = append(dst, stamp...)
	} else {
		dst = append(dst, ts...)
	}
	return append(dst, '\n'), nil
}

// field returns the space-separated field of s at or after i, and the
// index after it.
func field(s []byte, i int) ([]byte, int) {
	i = skipSpace(s, i)
	start := i
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return s[start:i], i
}

func hasLabel(ls []label, name []byte) bool {
	for _, l := range ls {
		if l.name == string(name) {
			return true
		}
	}
	return false
}
