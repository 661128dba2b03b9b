package yamlconf

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// The decoder's messages name YAML tags and Go types ("cannot unmarshal
// !!seq into map[string]string", "field node not found in type
// main.bgpAnalyzers"); a user wrote neither, so problems say what was found
// and what the key wants in the words of the file.

var cannotRE = regexp.MustCompile("(?s)^cannot unmarshal (!\\S*)(?: `(.*)`)? into (.+)$")

// humanTypeMsg rewrites a decoder type error; other messages pass through.
func humanTypeMsg(msg string) string {
	m := cannotRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return fmt.Sprintf("wrong type: this key takes %s, not %s", describeGoType(m[3]), describeFound(m[1], m[2]))
}

func describeFound(tag, value string) string {
	if !strings.HasPrefix(tag, "!!") {
		return fmt.Sprintf("a value with the custom tag %q", tag)
	}
	switch tag = tag[2:]; tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping (key: value)"
	case "null":
		return "an empty value"
	case "str":
		return fmt.Sprintf("the text %q", value)
	case "bool":
		return "true/false " + value
	case "int", "float":
		return "the number " + value
	}
	return fmt.Sprintf("a value with the tag %q", "!!"+tag)
}

// describeGoType names the shape a Go type takes in YAML.
func describeGoType(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "map[string]string"):
		return "a mapping of names to text (name: value)"
	case strings.HasPrefix(t, "map["):
		return "a mapping (key: value)"
	case strings.HasPrefix(t, "[]"):
		elem := describeGoType(t[2:])
		if strings.HasPrefix(elem, "a mapping") || strings.HasPrefix(elem, "a section") {
			return "a list of sections (- key: value)"
		}
		return "a list (- item, or [a, b])"
	case t == "string":
		return "a text value"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "uint"):
		return "a whole number, 0 or more"
	case strings.HasPrefix(t, "int"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a section (a mapping of keys)"
}

func unknownKeyMsg(key string, valid []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if len(valid) == 0 {
		return msg
	}
	if s := closest(key, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; valid keys here: " + strings.Join(valid, ", ")
}

// closest returns the valid key nearest to key, or "" when none is near.
func closest(key string, valid []string) string {
	best, bestD := "", max(2, len(key)/3)+1
	for _, v := range valid {
		if d := levenshtein(key, v); d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

// levenshtein is the edit distance between two short strings.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parentPath drops the last key of a path ("a.b[2].c" -> "a.b[2]").
func parentPath(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// indexFree writes a path's indices as [] ("rules[3].when" -> "rules[].when").
func indexFree(path string) string { return indexRE.ReplaceAllString(path, "[]") }

// keysAt lists the YAML keys of the struct found at path inside root, or
// nil when path does not lead to a struct.
func keysAt(root reflect.Type, path string) []string {
	t := root
	for _, part := range splitPath(path) {
		t = deref(t)
		if part == "[]" {
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array && t.Kind() != reflect.Map {
				return nil
			}
			t = t.Elem()
			continue
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByKey(t, part)
			if !ok {
				return nil
			}
			t = f
		default:
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	collectKeys(t, &keys)
	slices.Sort(keys)
	return keys
}

func splitPath(path string) []string {
	var out []string
	for _, seg := range strings.Split(indexFree(path), ".") {
		if seg == "" {
			continue
		}
		if name, _, _ := strings.Cut(seg, "["); name != "" {
			out = append(out, name)
		}
		for range strings.Count(seg, "[]") {
			out = append(out, "[]")
		}
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func yamlName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

func fieldByKey(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlName(f)
		if inline {
			if ft, ok := fieldByKey(deref(f.Type), key); ok {
				return ft, true
			}
			continue
		}
		if name == key {
			return f.Type, true
		}
	}
	return nil, false
}

func collectKeys(t reflect.Type, keys *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlName(f)
		if inline {
			if it := deref(f.Type); it.Kind() == reflect.Struct {
				collectKeys(it, keys)
			}
			continue
		}
		if name != "" {
			*keys = append(*keys, name)
		}
	}
}
