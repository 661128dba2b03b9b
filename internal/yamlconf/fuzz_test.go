package yamlconf

import (
	"errors"
	"regexp"
	"testing"
)

var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// FuzzDecodeMessages feeds arbitrary bytes to the strict decoder: it must not
// panic, every failure is an *Error, and no problem shows a Go type name.
func FuzzDecodeMessages(f *testing.F) {
	for _, s := range []string{
		"files: [a, b]", "names: {a: b}", "count: many", "med: -1", "inner: 3",
		"rules:\n  - acton: withdraw", "hosted: [192.0.2.1, 192.0.2.0/24]",
		"a: &x [1]\nb: *x", "label: risky", "{", "- - -", "rules: [{when: {stat: x}}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s shapes
		err := Decode("fuzz.yaml", data, &s)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, p := range e.Problems {
			// What the file wrote is quoted in the message and may be anything.
			if m := goTypeRE.FindString(quotedRE.ReplaceAllString(p.Msg, `""`)); m != "" {
				t.Errorf("problem shows %q: %s (input %q)", m, p.Msg, data)
			}
		}
	})
}
