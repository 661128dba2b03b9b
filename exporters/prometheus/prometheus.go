// Package prometheus serves anydiag's metrics in the Prometheus text format.
//
// Values live in github.com/VictoriaMetrics/metrics sets (cheap to update on
// hot paths), but that library cannot write HELP text, and `promtool check
// metrics` insists on it. So every family is described once with Describe,
// and Write adds one "# HELP" and one "# TYPE" line before each family's
// samples. A family written without a description is reported by Undescribed,
// which a test of each package calls so no metric ships without help.
package prometheus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Type is a metric family's type in the text format.
type Type string

// The family types anydiag uses.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
	Summary   Type = "summary"
)

type family struct {
	typ  Type
	help string
}

var (
	mu       sync.RWMutex
	families = map[string]family{}
)

// Describe records a family's type and help text. Describing a family twice
// with different text is a programming error and panics.
func Describe(name string, typ Type, help string) {
	mu.Lock()
	defer mu.Unlock()
	if f, ok := families[name]; ok && (f.typ != typ || f.help != help) {
		panic(fmt.Sprintf("prometheus: family %s described twice differently", name))
	}
	families[name] = family{typ: typ, help: help}
}

// familyOf maps a sample name to its family: histogram and summary series
// carry suffixes that belong to one family.
func familyOf(name string) (string, family, bool) {
	mu.RLock()
	defer mu.RUnlock()
	if f, ok := families[name]; ok {
		return name, f, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f, ok := families[base]; ok && (f.typ == Histogram || f.typ == Summary) {
				return base, f, true
			}
		}
	}
	return name, family{}, false
}

// Write writes the sets (and process metrics when process is true) with
// metadata. Samples of one family must be contiguous, which
// VictoriaMetrics/metrics guarantees by sorting each set by name; families
// split across sets are merged by Write.
func Write(w io.Writer, process bool, sets ...*metrics.Set) error {
	return WriteWith(w, process, nil, sets...)
}

// WriteWith is Write plus extra, a writer of text-format samples (with or
// without its own HELP and TYPE lines), such as the BMP station's.
func WriteWith(w io.Writer, process bool, extra func(io.Writer), sets ...*metrics.Set) error {
	var raw bytes.Buffer
	if extra != nil {
		extra(&raw)
	}
	for _, s := range sets {
		s.WritePrometheus(&raw)
	}
	if process {
		metrics.WriteProcessMetrics(&raw)
	}
	return annotate(w, raw.Bytes())
}

// annotate groups raw sample lines by family and writes HELP/TYPE first.
func annotate(w io.Writer, raw []byte) error {
	lines := strings.Split(string(raw), "\n")
	// Writers that emit their own metadata (the BMP station's) keep it when
	// the family is not described here.
	rawMeta := map[string]family{}
	for _, line := range lines {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			f := rawMeta[name]
			f.help = help
			rawMeta[name] = f
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			f := rawMeta[name]
			f.typ = Type(typ)
			rawMeta[name] = f
		}
	}
	// Runtime histograms and summaries are not described; recognise them by
	// their le and quantile labels so their _sum and _count join them.
	shaped := map[string]Type{}
	for _, line := range lines {
		name := sampleName(line)
		if base, ok := strings.CutSuffix(name, "_bucket"); ok && strings.Contains(line, `le="`) {
			shaped[base] = Histogram
		} else if strings.Contains(line, `quantile="`) {
			shaped[name] = Summary
		}
	}
	groups := map[string][]string{}
	types := map[string]Type{}
	var order []string
	for _, line := range lines {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := sampleName(line)
		fam, f, ok := familyOf(name)
		if !ok {
			if m, ok := rawMetaFamily(name, rawMeta); ok {
				fam, f = m, rawMeta[m]
			} else {
				fam, f.typ = runtimeFamily(name, shaped)
			}
			// VictoriaMetrics/metrics names a few runtime gauges *_count
			// (go_cpu_count, go_cgo_calls_count), which promtool's lint
			// rejects for anything but histograms and summaries; they say
			// little about anydiag, so they are left out.
			if strings.HasSuffix(fam, "_count") && isProcessMetric(fam) {
				continue
			}
		}
		if _, seen := groups[fam]; !seen {
			order = append(order, fam)
			types[fam] = f.typ
		}
		groups[fam] = append(groups[fam], line)
	}
	sort.Strings(order)
	bw := bufio.NewWriter(w)
	for _, fam := range order {
		if _, f, ok := familyOf(fam); ok {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", fam, escapeHelp(f.help), fam, f.typ)
		} else if m, ok := rawMeta[fam]; ok && m.help != "" && m.typ != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", fam, m.help, fam, m.typ)
		} else if isProcessMetric(fam) {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", fam, processHelp(fam), fam, types[fam])
		}
		for _, l := range groups[fam] {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// rawMetaFamily finds the family of a sample among raw metadata, allowing
// for histogram and summary suffixes.
func rawMetaFamily(name string, meta map[string]family) (string, bool) {
	if _, ok := meta[name]; ok {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f, ok := meta[base]; ok && (f.typ == Histogram || f.typ == Summary) {
				return base, true
			}
		}
	}
	return "", false
}

func sampleName(line string) string {
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		return line[:i]
	}
	return line
}

// runtimeFamily finds the family and type of an undescribed sample.
func runtimeFamily(name string, shaped map[string]Type) (string, Type) {
	if t, ok := shaped[name]; ok {
		return name, t
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if t, ok := shaped[base]; ok {
				return base, t
			}
		}
	}
	return name, processType(name)
}

// Undescribed lists the families in the sets' output that have no Describe.
func Undescribed(sets ...*metrics.Set) []string {
	var raw bytes.Buffer
	for _, s := range sets {
		s.WritePrometheus(&raw)
	}
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(raw.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := sampleName(line)
		if fam, _, ok := familyOf(name); !ok && !seen[fam] {
			seen[fam] = true
			out = append(out, fam)
		}
	}
	sort.Strings(out)
	return out
}

// Handler serves Write over HTTP.
func Handler(process bool, sets func() []*metrics.Set) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		var buf bytes.Buffer
		if err := Write(&buf, process, sets()...); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(buf.Bytes())
	})
}

// Label escapes a label value once, as the text format wants it between
// double quotes: backslash, double quote and line feed are escaped, every
// other character (a tab included) stays as it is, and invalid UTF-8 becomes
// U+FFFD because the format is UTF-8. Never pass the result through %q: Go
// quoting escapes it a second time and writes escapes the format does not
// have (\t). Labels and Name quote for you.
func Label(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return labelEscaper.Replace(v)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Labels formats name/value pairs as they go between a family's braces,
// each value quoted and escaped exactly once: Labels("chip", `a"b`, "lane",
// "1") is `chip="a\"b",lane="1"`. An odd number of arguments is a
// programming error and panics.
func Labels(kv ...string) string {
	if len(kv)%2 != 0 {
		panic("prometheus: Labels needs name/value pairs")
	}
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(Label(kv[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

// Name returns a series name for metrics.Set: family{labels} with the
// values escaped once, or family alone without pairs.
func Name(family string, kv ...string) string {
	if len(kv) == 0 {
		return family
	}
	return family + "{" + Labels(kv...) + "}"
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// Family is a described metric family.
type Family struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	Help string `json:"help"`
}

// Described returns every family described so far, sorted by name: the
// metrics the binary can export, for dashboards' and rules' tests.
func Described() []Family {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Family, 0, len(families))
	for n, f := range families {
		out = append(out, Family{Name: n, Type: f.typ, Help: f.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
