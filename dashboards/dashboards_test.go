package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"go.yaml.in/yaml/v3"

	"github.com/anydiag/anydiag/exporters/prometheus"
	// The agent imports every component it wires, so prometheus.Described
	// then lists every family the binary can export.
	_ "github.com/anydiag/anydiag/internal/agent"
)

const (
	rulesFile        = "rules/anydiag.yml"
	rulesTestFile    = "rules/anydiag_test.yml"
	alertmanagerFile = "../examples/alertmanager.yml"
)

// builtin are series Prometheus makes itself.
var builtin = map[string]bool{"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true}

// expr is one PromQL expression and where it comes from.
type expr struct {
	where string // file and panel or rule, for failure messages
	raw   string // as written, with Grafana variables
	query string // with variables replaced by valid values
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`
	Datasource json.RawMessage `json:"datasource"`
}

type panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

type dashboard struct {
	file          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in grafana/ (%v)", err)
	}
	var out []dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{}
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			t.Errorf("%s: not a dashboard: %v", f, err)
			continue
		}
		d.file = f
		out = append(out, d)
	}
	return out
}

// allPanels flattens rows, collapsed or not.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// hasData is false for panels that only lay out or explain.
func hasData(p panel) bool { return p.Type != "row" && p.Type != "text" }

func (p panel) where(file string) string {
	return fmt.Sprintf("%s: panel %d %q", file, p.ID, p.Title)
}

func TestDashboards(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("%s: uid and title are required", d.file)
			}
			if prev, dup := uids[d.UID]; dup {
				t.Errorf("%s: uid %q is also used by %s", d.file, d.UID, prev)
			}
			uids[d.UID] = d.file
			if d.SchemaVersion < 36 {
				t.Errorf("%s: schemaVersion %d: export with Grafana 10 or later (36+)", d.file, d.SchemaVersion)
			}
			checkVariables(t, d)
			ids := map[int]string{}
			for _, p := range allPanels(d.Panels) {
				w := p.where(d.file)
				if p.ID <= 0 {
					t.Errorf("%s: no id", w)
				} else if prev, dup := ids[p.ID]; dup {
					t.Errorf("%s: id %d is also used by panel %q", w, p.ID, prev)
				}
				ids[p.ID] = p.Title
				if p.Title == "" {
					t.Errorf("%s: no title", w)
				}
				if !hasData(p) {
					continue
				}
				if p.Description == "" {
					t.Errorf("%s: no description: say what the panel shows", w)
				}
				if p.FieldConfig.Defaults.Unit == "" {
					t.Errorf("%s: fieldConfig.defaults.unit is not set (dBm, celsius, s, bytes, short, percentunit...)", w)
				}
				if err := checkDatasource(p.Datasource); err != nil {
					t.Errorf("%s: datasource %v", w, err)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no targets", w)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("%s: target refId %q is empty or repeated", w, tg.RefID)
					}
					refs[tg.RefID] = true
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s target %s: empty expr", w, tg.RefID)
					}
					if len(tg.Datasource) > 0 {
						if err := checkDatasource(tg.Datasource); err != nil {
							t.Errorf("%s target %s: datasource %v", w, tg.RefID, err)
						}
					}
					for _, win := range rangeWindows(tg.Expr) {
						if !strings.HasPrefix(win, "$__") {
							t.Errorf("%s target %s: range [%s]: use [$__rate_interval] (or $__range) so the window follows the scrape interval and zoom", w, tg.RefID, win)
						}
					}
				}
			}
		})
	}
}

func checkVariables(t *testing.T, d dashboard) {
	t.Helper()
	var ds []variable
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			ds = append(ds, v)
		}
	}
	if len(ds) != 1 || ds[0].Name != "datasource" {
		t.Errorf("%s: need exactly one variable of type datasource, named datasource (got %d)", d.file, len(ds))
		return
	}
	var q string
	if err := json.Unmarshal(ds[0].Query, &q); err != nil || q != "prometheus" {
		t.Errorf("%s: the datasource variable must query the prometheus plugin, got %s", d.file, ds[0].Query)
	}
}

func checkDatasource(raw json.RawMessage) error {
	var ref datasourceRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		return fmt.Errorf("%s is not a {type, uid} reference", raw)
	}
	if ref.Type != "prometheus" || ref.UID != "${datasource}" {
		return fmt.Errorf(`%s: want {"type":"prometheus","uid":"${datasource}"}`, raw)
	}
	return nil
}

var (
	quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	windowRe = regexp.MustCompile(`\[([^\]]+)\]`)
	macroRe  = regexp.MustCompile(`\$\{?(__[a-z_]+)\}?`)
	varRe    = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]`)
)

// rangeWindows returns the contents of an expression's [...] ranges.
func rangeWindows(e string) []string {
	var out []string
	for _, m := range windowRe.FindAllStringSubmatch(quoted.ReplaceAllString(e, `""`), -1) {
		out = append(out, m[1])
	}
	return out
}

// macros are Grafana's built-in variables, replaced by values they take.
var macros = map[string]string{
	"__rate_interval": "1m", "__interval": "30s", "__interval_ms": "30000",
	"__range": "6h", "__range_s": "21600", "__range_ms": "21600000",
}

// substitute replaces Grafana macros and template variables so the
// expression can be parsed; a variable the dashboard does not define is an
// error, as is an unknown macro.
func substitute(e string, vars map[string]bool) (string, error) {
	var errs []error
	e = macroRe.ReplaceAllStringFunc(e, func(m string) string {
		name := macroRe.FindStringSubmatch(m)[1]
		v, ok := macros[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown Grafana macro $%s", name))
			return m
		}
		return v
	})
	e = varRe.ReplaceAllStringFunc(e, func(m string) string {
		s := varRe.FindStringSubmatch(m)
		name := s[1] + s[2] + s[3]
		if !vars[name] {
			errs = append(errs, fmt.Errorf("variable $%s is not defined in the dashboard's templating", name))
		}
		// Template variables only appear inside label matchers' strings,
		// where any regular expression is valid.
		return ".+"
	})
	return e, errors.Join(errs...)
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// dashboardExprs returns every expression of the dashboards: targets and
// the selectors of label_values() variable queries.
func dashboardExprs(t *testing.T) []expr {
	t.Helper()
	var out []expr
	for _, d := range loadDashboards(t) {
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		add := func(where, raw string) {
			q, err := substitute(raw, vars)
			if err != nil {
				t.Errorf("%s: %s: %v", where, raw, err)
			}
			out = append(out, expr{where: where, raw: raw, query: q})
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var q string
			if json.Unmarshal(v.Query, &q) != nil {
				var obj struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					t.Errorf("%s: variable %s: query %s is neither a string nor {query}", d.file, v.Name, v.Query)
					continue
				}
				q = obj.Query
			}
			m := labelValuesRe.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: variable %s: query %q: use label_values(selector, label)", d.file, v.Name, q)
				continue
			}
			add(fmt.Sprintf("%s: variable %s", d.file, v.Name), m[1])
		}
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				add(fmt.Sprintf("%s target %s", p.where(d.file), tg.RefID), tg.Expr)
			}
		}
	}
	return out
}

// ruleFile is the part of a Prometheus rules file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

func ruleExprs(t *testing.T) []expr {
	var out []expr
	for _, g := range loadRules(t).Groups {
		for i, r := range g.Rules {
			name := r.Alert + r.Record
			out = append(out, expr{where: fmt.Sprintf("%s: group %s rule %d %s", rulesFile, g.Name, i, name), raw: r.Expr, query: r.Expr})
		}
	}
	return out
}

func allExprs(t *testing.T) []expr {
	return append(dashboardExprs(t), ruleExprs(t)...)
}

// TestExpressionsParse parses every expression with metricsql for a
// message naming the panel, then with promtool, whose parser is the
// Prometheus one the rules and Grafana queries run on.
func TestExpressionsParse(t *testing.T) {
	exprs := allExprs(t)
	for _, e := range exprs {
		if _, err := metricsql.Parse(e.query); err != nil {
			t.Errorf("%s: %q does not parse: %v", e.where, e.raw, err)
		}
	}
	promtool := needTool(t, "promtool", "prometheus")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	// One group per expression: promtool names the group of a bad
	// expression, and the group's name says where it came from.
	var doc struct {
		Groups []group `yaml:"groups"`
	}
	for i, e := range exprs {
		doc.Groups = append(doc.Groups, group{
			Name:  fmt.Sprintf("%d %s", i, e.where),
			Rules: []rule{{Record: fmt.Sprintf("anydiag_dashboard_expr_%d", i), Expr: e.query}},
		})
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboards' and rules' expressions: %v\n%s", err, out)
	}
}

// metricNames returns the metric names an expression selects.
func metricNames(e metricsql.Expr) []string {
	var out []string
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		me, ok := x.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, lfs := range me.LabelFilterss {
			for _, lf := range lfs {
				if lf.Label == "__name__" && !lf.IsRegexp && !lf.IsNegative {
					out = append(out, lf.Value)
				}
			}
		}
	})
	return out
}

// counterOutsideRate returns the _total series an expression uses without
// rate, irate or increase: a raw counter's value depends on restarts.
func counterOutsideRate(e metricsql.Expr) []string {
	var out []string
	var walk func(metricsql.Expr, bool)
	walk = func(x metricsql.Expr, inRate bool) {
		switch v := x.(type) {
		case *metricsql.MetricExpr:
			for _, n := range metricNames(v) {
				if strings.HasSuffix(n, "_total") && !inRate {
					out = append(out, n)
				}
			}
		case *metricsql.RollupExpr:
			walk(v.Expr, inRate)
		case *metricsql.FuncExpr:
			r := inRate || slices.Contains([]string{"rate", "irate", "increase", "resets"}, v.Name)
			for _, a := range v.Args {
				walk(a, r)
			}
		case *metricsql.AggrFuncExpr:
			for _, a := range v.Args {
				walk(a, inRate)
			}
		case *metricsql.BinaryOpExpr:
			walk(v.Left, inRate)
			walk(v.Right, inRate)
		}
	}
	walk(e, false)
	return out
}

// described maps every described family, and its histogram or summary
// series names, to true.
func described() map[string]bool {
	out := map[string]bool{}
	for _, f := range prometheus.Described() {
		out[f.Name] = true
		if f.Type == prometheus.Histogram || f.Type == prometheus.Summary {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f.Name+s] = true
			}
		}
	}
	return out
}

func TestMetricsExported(t *testing.T) {
	known := described()
	for _, e := range allExprs(t) {
		ast, err := metricsql.Parse(e.query)
		if err != nil {
			continue // TestExpressionsParse reports it
		}
		for _, n := range counterOutsideRate(ast) {
			t.Errorf("%s: counter %s is used without rate()/increase(): %q", e.where, n, e.raw)
		}
		for _, n := range metricNames(ast) {
			if known[n] || builtin[n] {
				continue
			}
			t.Errorf("%s: %s is not exported by the agent: no package calls prometheus.Describe(%q, ...) (a typo?): %q",
				e.where, n, n, e.raw)
		}
	}
}

// needTool finds a Debian-packaged tool the test cannot do without.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install -y --no-install-recommends %s)", name, pkg, pkg)
	}
	return p
}

func TestRules(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	if out, err := exec.Command(promtool, "test", "rules", rulesTestFile).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules %s: %v\n%s", rulesTestFile, err, out)
	}

	fires, quiet := ruleTestCases(t)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			w := fmt.Sprintf("%s: alert %s", rulesFile, r.Alert)
			if r.For == "" {
				t.Errorf("%s: no for: say how long the condition must hold (for: 0m if at once)", w)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity label %q, want critical (pages) or warning", w, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: annotation %s is missing", w, a)
				}
			}
			if !strings.Contains(r.Annotations["description"], "$labels") {
				t.Errorf("%s: the description should name the series ({{ $labels.node }}...)", w)
			}
			if act, ok := r.Labels["anydiag_action"]; ok {
				if act != "withdraw" {
					t.Errorf("%s: anydiag_action %q: the agent's webhook knows withdraw", w, act)
				}
				if !strings.Contains(r.Labels["anycast_prefix"], "$labels.") {
					t.Errorf("%s: a withdraw alert needs anycast_prefix taken from the series' labels", w)
				}
			}
			if !fires[r.Alert] {
				t.Errorf("%s: %s has no test case where it fires", w, rulesTestFile)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: %s has no test case where it must not fire", w, rulesTestFile)
			}
		}
	}
}

// ruleTestCases returns which alerts the unit tests expect to fire, and
// which they expect to stay quiet, at some evaluation.
func ruleTestCases(t *testing.T) (fires, quiet map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	fires, quiet = map[string]bool{}, map[string]bool{}
	for _, tc := range doc.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	return fires, quiet
}

// TestAlertmanagerConfig checks the example with amtool, when installed,
// and that withdrawals reach the webhook of the PoP named in the alert.
func TestAlertmanagerConfig(t *testing.T) {
	data, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers []struct {
			Name           string `yaml:"name"`
			WebhookConfigs []struct {
				URL          string `yaml:"url"`
				SendResolved bool   `yaml:"send_resolved"`
				HTTPConfig   struct {
					Authorization struct {
						CredentialsFile string `yaml:"credentials_file"`
					} `yaml:"authorization"`
				} `yaml:"http_config"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", alertmanagerFile, err)
	}
	hooks := 0
	for _, r := range cfg.Receivers {
		for _, wh := range r.WebhookConfigs {
			hooks++
			w := fmt.Sprintf("%s: receiver %s", alertmanagerFile, r.Name)
			if !strings.HasSuffix(wh.URL, "/api/v1/alertmanager") {
				t.Errorf("%s: url %s: the agent's webhook is POST /api/v1/alertmanager", w, wh.URL)
			}
			if !wh.SendResolved {
				t.Errorf("%s: send_resolved must be true: the resolved notification announces the prefix again", w)
			}
			if wh.HTTPConfig.Authorization.CredentialsFile == "" {
				t.Errorf("%s: http_config.authorization.credentials_file is required by the agent's webhook", w)
			}
		}
	}
	if hooks == 0 {
		t.Errorf("%s: no webhook receiver", alertmanagerFile)
	}

	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool not installed (Debian package prometheus-alertmanager): config not checked by Alertmanager's own parser")
	}
	if out, err := exec.Command(amtool, "check-config", alertmanagerFile).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config %s: %v\n%s", alertmanagerFile, err, out)
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=AnydiagThermalThrottling", "anydiag_action=withdraw", "node=fra1", "anycast_prefix=192.0.2.1/32", "severity=critical"}, "anydiag-fra1,oncall"},
		{[]string{"alertname=AnydiagThermalThrottling", "anydiag_action=withdraw", "node=ams1", "anycast_prefix=192.0.2.1/32", "severity=critical"}, "anydiag-ams1,oncall"},
		{[]string{"alertname=AnydiagBGPSessionDown", "node=fra1", "severity=critical"}, "oncall"},
		{[]string{"alertname=AnydiagCollectorDown", "node=fra1", "severity=warning"}, "tickets"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerFile}, tc.labels...)
		out, err := exec.Command(amtool, args...).Output()
		if err != nil {
			t.Errorf("amtool %s: %v", strings.Join(args, " "), err)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%s routes %v to %q, want %q", alertmanagerFile, tc.labels, got, tc.want)
		}
	}
}
