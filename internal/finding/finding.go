// Package finding is the shared model of what anydiag concludes: a code from a
// fixed catalogue, a severity, the subject it is about, the evidence that
// justifies it and advice a human can act on.
package finding

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Severity orders findings; the zero value is Info.
type Severity int

// Severities, from least to most urgent.
const (
	Info Severity = iota
	Warning
	Critical
)

var severityNames = [...]string{"info", "warning", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads "info", "warning" or "critical".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one conclusion, printed as DESIGN.md's JSON contract.
type Finding struct {
	Code     string         `json:"code"`
	Severity Severity       `json:"severity"`
	Subject  string         `json:"subject"`
	Summary  string         `json:"summary"`
	Evidence map[string]any `json:"evidence"`
	Advice   string         `json:"advice"`
	Since    time.Time      `json:"since"`
}

// New builds a finding for a catalogued code; severity and advice come from the
// catalogue. It panics on a code that is not catalogued, because that is a
// programming error caught by every test that reaches it.
func New(code, subject, summary string, evidence map[string]any, since time.Time) Finding {
	c, ok := Lookup(code)
	if !ok {
		panic("finding: code not in catalogue: " + code)
	}
	if evidence == nil {
		evidence = map[string]any{}
	}
	return Finding{
		Code:     code,
		Severity: c.Severity,
		Subject:  subject,
		Summary:  summary,
		Evidence: evidence,
		Advice:   c.Advice,
		Since:    since.UTC(),
	}
}

// WithSeverity returns f with another severity, for codes whose urgency
// depends on the evidence (a prefix about to be suppressed versus suppressed).
func (f Finding) WithSeverity(s Severity) Finding {
	f.Severity = s
	return f
}

// Key identifies a finding across evaluations: the same code on the same
// subject is the same finding, whose Since should be kept.
func (f Finding) Key() string { return f.Code + "\x00" + f.Subject }

// Sort orders findings worst first, then by code and subject, so output is stable.
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		if fs[i].Code != fs[j].Code {
			return fs[i].Code < fs[j].Code
		}
		return fs[i].Subject < fs[j].Subject
	})
}

// Worst returns the highest severity in fs and false when fs is empty.
func Worst(fs []Finding) (Severity, bool) {
	if len(fs) == 0 {
		return Info, false
	}
	w := Info
	for _, f := range fs {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w, true
}

// MarshalJSON keeps evidence an object even when empty.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	p := plain(f)
	if p.Evidence == nil {
		p.Evidence = map[string]any{}
	}
	return json.Marshal(p)
}
