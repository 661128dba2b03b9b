package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A real Prometheus scrapes a running agent and evaluates the project's
// alert rules against it: the target is up, the agent's series are queryable
// and every rule group evaluates without error.
func TestPrometheusScrapesAgentAndEvaluatesRules(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian package prometheus)")
	}
	rules, err := filepath.Abs("../../dashboards/rules/anydiag.yml")
	if err != nil {
		t.Fatal(err)
	}
	sys := fixtureSys(t)
	_, base, stop := startAgent(t, strings.ReplaceAll(baseConfig, "%s", sys))
	defer stop()

	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	conf := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: anydiag
    static_configs:
      - targets: [%s]
        labels: {node: test1, site: lab}
`, rules, strings.TrimPrefix(base, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	promURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	query := func(q string) []any {
		resp, err := http.Get(promURL + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var v struct {
			Data struct {
				Result []any `json:"result"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.Data.Result
	}
	waitFor(t, "Prometheus to scrape the agent", func() bool {
		return len(query(`up{job="anydiag"} == 1`)) == 1 && len(query(`anydiag_thermal_sensor_celsius`)) > 0
	})
	type group struct {
		Name  string `json:"name"`
		Rules []struct {
			Name      string `json:"name"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"rules"`
	}
	var groups []group
	waitFor(t, "the alert rules to be evaluated", func() bool {
		resp, err := http.Get(promURL + "/api/v1/rules")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			Data struct {
				Groups []group `json:"groups"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&v) != nil || len(v.Data.Groups) == 0 {
			return false
		}
		groups = v.Data.Groups
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					return false
				}
			}
		}
		return true
	})
	n := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			n++
			if r.LastError != "" {
				t.Errorf("rule %s: %s", r.Name, r.LastError)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules loaded")
	}
	t.Logf("Prometheus scraped the agent and evaluated %d rules", n)
}
