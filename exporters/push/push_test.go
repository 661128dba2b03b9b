package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/lab"
)

func TestRewrite(t *testing.T) {
	extra := sortedLabels(map[string]string{"site": "ams", "node": `po"p1`})
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "no labels", in: "anydiag_x 1\n", want: `anydiag_x{node="po\"p1",site="ams"} 1 1700000000000` + "\n"},
		{name: "labels kept in order", in: `anydiag_x{b="2",a="1"} 3.5`, want: `anydiag_x{b="2",a="1",node="po\"p1",site="ams"} 3.5 1700000000000` + "\n"},
		{name: "extra label replaces the sample's", in: `anydiag_build_info{version="v1",node="old",site="x"} 1`, want: `anydiag_build_info{version="v1",node="po\"p1",site="ams"} 1 1700000000000` + "\n"},
		{name: "escapes and braces in values", in: `anydiag_x{s="a\"b}\\,c=\"d"} 1`, want: `anydiag_x{s="a\"b}\\,c=\"d",node="po\"p1",site="ams"} 1 1700000000000` + "\n"},
		{name: "tab and escaped line feed in a value", in: "anydiag_x{label=\"core\t\\\"0\\\" \\\\x\\ny\"} 45", want: "anydiag_x{label=\"core\t\\\"0\\\" \\\\x\\ny\",node=\"po\\\"p1\",site=\"ams\"} 45 1700000000000\n"},
		{name: "existing timestamp kept", in: "anydiag_x 1 1600000000000", want: `anydiag_x{node="po\"p1",site="ams"} 1 1600000000000` + "\n"},
		{name: "special values", in: "a NaN\nb +Inf\nc -Inf", want: `a{node="po\"p1",site="ams"} NaN 1700000000000` + "\n" + `b{node="po\"p1",site="ams"} +Inf 1700000000000` + "\n" + `c{node="po\"p1",site="ams"} -Inf 1700000000000` + "\n"},
		{name: "comments pass, blank lines go", in: "# HELP a x\n\n# TYPE a gauge\na 1\n", want: "# HELP a x\n# TYPE a gauge\n" + `a{node="po\"p1",site="ams"} 1 1700000000000` + "\n"},
		{name: "empty label set and spaces", in: `a{ } 2`, want: `a{node="po\"p1",site="ams"} 2 1700000000000` + "\n"},
		{name: "trailing comma", in: `a{x="1",} 2`, want: `a{x="1",node="po\"p1",site="ams"} 2 1700000000000` + "\n"},
		{name: "no value", in: "anydiag_x", err: "line 1: space and value expected"},
		{name: "bad value", in: "anydiag_x abc", err: `invalid value "abc"`},
		{name: "bad timestamp", in: "a 1 soon", err: `invalid timestamp "soon"`},
		{name: "too many fields", in: "a 1 2 3", err: "want a value and an optional timestamp"},
		{name: "unterminated value", in: `a{x="1} 2`, err: "unterminated value of label x"},
		{name: "unquoted value", in: `a{x=1} 2`, err: "quoted value expected for label x"},
		{name: "missing =", in: `a{x "1"} 2`, err: "= expected after label x"},
		{name: "no name", in: "\n{x=\"1\"} 2", err: "line 2: no metric name"},
		{name: "junk after labels", in: `a{x="1" y="2"} 2`, err: ", or } expected after label x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := rewrite(&out, []byte(tc.in), extra, 1700000000000)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}

func TestRewriteWithoutExtraLabels(t *testing.T) {
	var out bytes.Buffer
	if err := rewrite(&out, []byte("a 1\nb{x=\"y\"} 2\n"), nil, 5); err != nil {
		t.Fatal(err)
	}
	if want := "a 1 5\nb{x=\"y\"} 2 5\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// pushDoc is a configuration document holding a push section.
type pushDoc struct {
	Push Config `yaml:"push"`
}

func (d *pushDoc) Validate(p *yamlconf.Problems) { d.Push.Check(p, "push") }

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		errs      []string
	}{
		{name: "valid", doc: "push:\n  url: http://127.0.0.1:8428/api/v1/import/prometheus\n  interval: 15s\n  extra_labels: {node: pop1, site: ams}\n"},
		{name: "missing url", doc: "push:\n  interval: 15s\n", errs: []string{"push.url", "required"}},
		{name: "not http", doc: "push:\n  url: ftp://vm:8428/\n", errs: []string{"agent.yaml:2: push.url:", "not an http(s) URL"}},
		{name: "no host", doc: "push:\n  url: http:///api/v1/import/prometheus\n", errs: []string{"has no host"}},
		{name: "interval too short", doc: "push:\n  url: http://vm:8428\n  interval: 100ms\n", errs: []string{"agent.yaml:3: push.interval:", "too short"}},
		{name: "bad label name", doc: "push:\n  url: http://vm:8428\n  extra_labels:\n    9node: x\n", errs: []string{"is not a label name"}},
		{name: "reserved label", doc: "push:\n  url: http://vm:8428\n  extra_labels:\n    __name__: x\n", errs: []string{"reserved"}},
		{name: "empty value", doc: "push:\n  url: http://vm:8428\n  extra_labels:\n    site: \"\"\n", errs: []string{"empty value"}},
		{name: "bad interval", doc: "push:\n  url: http://vm:8428\n  interval: often\n", errs: []string{"invalid duration"}},
		{name: "unknown key", doc: "push:\n  url: http://vm:8428\n  labels: {a: b}\n", errs: []string{"labels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d pushDoc
			err := yamlconf.Decode("agent.yaml", []byte(tc.doc), &d)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.errs)
			}
			for _, e := range tc.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not contain %q", err, e)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	write := func(io.Writer) error { return nil }
	p, err := New(Config{URL: "http://127.0.0.1:8428"}, write, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.url != "http://127.0.0.1:8428"+ImportPath || p.interval != DefaultInterval {
		t.Errorf("url %s interval %s: want the import path and the default interval", p.url, p.interval)
	}
	if _, err := New(Config{URL: "vm:8428", ExtraLabels: map[string]string{"a-b": "x"}}, write, nil); err == nil ||
		!strings.Contains(err.Error(), "url:") || !strings.Contains(err.Error(), "extra_labels.a-b:") {
		t.Errorf("err = %v, want both problems named", err)
	}
}

// victoriaMetrics starts a real single-node VictoriaMetrics on a loopback
// port and returns its base URL; it is stopped when the test ends.
func victoriaMetrics(t *testing.T) string {
	t.Helper()
	const bin = "/usr/bin/victoria-metrics"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: install the Debian package victoria-metrics (apt-get install -y --no-install-recommends victoria-metrics)", bin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-httpListenAddr", addr, "-storageDataPath", filepath.Join(dir, "data"),
		"-retentionPeriod", "1d", "-loggerLevel", "ERROR")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	base := "http://" + addr
	err = lab.WaitFor(context.Background(), 15*time.Second, 20*time.Millisecond, func() (bool, error) {
		select {
		case err := <-exited:
			return false, lab.Permanent(fmt.Errorf("victoria-metrics exited before it was ready: %v", err))
		default:
		}
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "OK", fmt.Errorf("/health: HTTP %d %q", resp.StatusCode, body)
	})
	if err != nil {
		t.Fatalf("victoria-metrics not ready on %s: %v\n%s", addr, err, logs.String())
	}
	return base
}

// exported is one series of /api/v1/export.
type exported struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// export reads the series matching match at ts from VictoriaMetrics,
// flushing its buffers first so that just-pushed samples are searchable.
func export(t *testing.T, base, match string, ts time.Time) []exported {
	t.Helper()
	resp, err := http.Get(base + "/internal/force_flush")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := url.Values{"match[]": {match}, "start": {fmt.Sprint(ts.Add(-time.Minute).Unix())}, "end": {fmt.Sprint(ts.Add(time.Minute).Unix())}}
	resp, err = http.Get(base + "/api/v1/export?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: %s: %s", resp.Status, b)
	}
	var out []exported
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e exported
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].Metric) < fmt.Sprint(out[j].Metric) })
	return out
}

func init() {
	prometheus.Describe("anydiag_pushtest_temperature_celsius", prometheus.Gauge, "A test gauge.")
	prometheus.Describe("anydiag_pushtest_info", prometheus.Gauge, "A test info metric that already has node and site labels.")
}

// TestPushToVictoriaMetrics pushes the agent's text format to a real
// VictoriaMetrics and reads the samples back with their extra labels and
// the injected collection time.
func TestPushToVictoriaMetrics(t *testing.T) {
	base := victoriaMetrics(t)
	set := metrics.NewSet()
	set.NewGauge(`anydiag_pushtest_temperature_celsius{sensor="temp1",label="CPU \"die\""}`, nil).Set(61.5)
	set.NewGauge(`anydiag_pushtest_info{version="v1",node="stale",site="stale"}`, nil).Set(1)
	write := func(w io.Writer) error { return prometheus.Write(w, false, set) }
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	p, err := New(Config{URL: base, ExtraLabels: map[string]string{"node": "pop1", "site": "ams"}}, write, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Push(ctx); err != nil {
		t.Fatal(err)
	}

	want := []exported{
		{Metric: map[string]string{"__name__": "anydiag_pushtest_info", "version": "v1", "node": "pop1", "site": "ams"}, Values: []float64{1}, Timestamps: []int64{at.UnixMilli()}},
		{Metric: map[string]string{"__name__": "anydiag_pushtest_temperature_celsius", "sensor": "temp1", "label": `CPU "die"`, "node": "pop1", "site": "ams"}, Values: []float64{61.5}, Timestamps: []int64{at.UnixMilli()}},
	}
	got := export(t, base, `{__name__=~"anydiag_pushtest_.*"}`, at)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("VictoriaMetrics holds\n%v\nwant\n%v", got, want)
	}
	if n, f := p.total.Get(), p.failures.Get(); n != 1 || f != 0 {
		t.Errorf("anydiag_push_total %d, anydiag_push_failures_total %d; want 1 and 0", n, f)
	}
	var out bytes.Buffer
	if err := prometheus.Write(&out, false, p.Metrics()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "# HELP anydiag_push_failures_total ") || !strings.Contains(out.String(), "anydiag_push_total 1\n") {
		t.Errorf("the pusher's own metrics are not written with help text:\n%s", out.String())
	}
}

// TestPushFailures counts failures VictoriaMetrics and the network cause.
func TestPushFailures(t *testing.T) {
	base := victoriaMetrics(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()
	ok := func(w io.Writer) error { _, err := io.WriteString(w, "anydiag_pushtest_x 1\n"); return err }
	for _, tc := range []struct {
		name  string
		url   string
		write func(io.Writer) error
		err   string
	}{
		{"unknown endpoint", base + "/api/v1/import/nothing", ok, "answered 400"},
		{"connection refused", closedURL, ok, "connection refused"},
		{"writer fails", base, func(io.Writer) error { return errors.New("set gone") }, "writing metrics: set gone"},
		{"malformed text", base, func(w io.Writer) error { _, err := io.WriteString(w, "anydiag_pushtest_x one\n"); return err }, `line 1: invalid value "one"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(Config{URL: tc.url}, tc.write, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Push(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.err)
			}
			if n, f := p.total.Get(), p.failures.Get(); n != 1 || f != 1 {
				t.Errorf("total %d failures %d, want 1 and 1", n, f)
			}
		})
	}
}

// TestRun checks the loop: it pushes at once and on every tick, and stops
// when its context ends. The server is a stand-in counting requests.
func TestRun(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "gzip" || r.URL.Path != ImportPath {
			http.Error(w, "want a gzipped POST to the import path", http.StatusBadRequest)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writes int
	write := func(w io.Writer) error {
		writes++
		if writes == 3 {
			cancel() // the third push then fails on its cancelled context
		}
		_, err := io.WriteString(w, "anydiag_pushtest_x 1\n")
		return err
	}
	p, err := New(Config{URL: srv.URL, Interval: yamlconf.Duration(time.Millisecond)}, write, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if writes != 3 || got.Load() != 2 || p.total.Get() != 3 || p.failures.Get() != 1 {
		t.Errorf("writes %d, received %d, total %d, failures %d; want 3, 2, 3, 1", writes, got.Load(), p.total.Get(), p.failures.Get())
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"a 1\n", `a{b="c"} 2 3`, "# HELP a x\na{node=\"x\"} NaN\n", `a{b="\"}"} 1`, "a{", `a{b="c",} -Inf`, "\n\n",
	} {
		f.Add([]byte(s))
	}
	extra := sortedLabels(map[string]string{"node": "pop1", "site": "ams"})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if err := rewrite(&out, in, extra, 42); err != nil {
			return
		}
		// Whatever was accepted rewrites to text that is accepted again,
		// unchanged, with the extra labels once per sample.
		var again bytes.Buffer
		if err := rewrite(&again, out.Bytes(), extra, 42); err != nil {
			t.Fatalf("output not accepted: %v\n%q", err, out.String())
		}
		if again.String() != out.String() {
			t.Fatalf("not idempotent:\n%q\n%q", out.String(), again.String())
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if line == "" || line[0] == '#' {
				continue
			}
			if strings.Count(line, `node="pop1"`) < 1 || strings.Count(line, `site="ams"`) < 1 {
				t.Fatalf("extra labels missing: %q", line)
			}
		}
	})
}

func BenchmarkRewrite(b *testing.B) {
	set := metrics.NewSet()
	for i := range 500 {
		set.NewGauge(fmt.Sprintf(`anydiag_optics_rx_power_dbm{interface="eth%d",lane="%d"}`, i/4, i%4+1), nil).Set(-3.5)
		set.NewCounter(fmt.Sprintf(`anydiag_link_errors_total{device="eth%d",direction="rx",kind="crc"}`, i)).Set(uint64(i))
	}
	var text bytes.Buffer
	set.WritePrometheus(&text)
	extra := sortedLabels(map[string]string{"node": "pop1", "site": "ams"})
	b.SetBytes(int64(text.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := rewrite(io.Discard, text.Bytes(), extra, 1700000000000); err != nil {
			b.Fatal(err)
		}
	}
}
