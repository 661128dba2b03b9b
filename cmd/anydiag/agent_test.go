package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpEndpointRE matches the endpoint lines of `agent --help`.
var helpEndpointRE = regexp.MustCompile(`(?m)^\s+(GET|POST)\s+(/\S+)`)

// Every endpoint `agent --help` lists is served by an agent with every
// component enabled, and the README's table names it too.
func TestAgentHelpListsServedEndpoints(t *testing.T) {
	_, help, _ := runCLI(t, "agent", "--help")
	eps := helpEndpointRE.FindAllStringSubmatch(help, -1)
	if len(eps) < 15 {
		t.Fatalf("agent --help lists %d endpoints:\n%s", len(eps), help)
	}

	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("0123456789abcdef-control\n"), 0o600)
	cfg := `node: {name: ctl}
anycast: {prefixes: [192.0.2.1/32]}
speaker:
  gobgp: {asn: 64500, router_id: 192.0.2.9, listen_port: -1, neighbors: [{address: 127.0.0.2, asn: 65001, connect_retry: 1h}]}
collectors: {bmp: {enabled: true, listen: '127.0.0.1:0'}}
exporters: {token_file: ` + token + `, alertmanager: {token_file: ` + token + `}}
`
	base := runAgent(t, dir, cfg)
	waitAnnounced(t, base, true)

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		method, p := ep[1], ep[2]
		// A POST with an empty JSON body: refused (400) or acted on, never 404.
		// drain is left out: it would withdraw the prefix for the rest of the test.
		if strings.HasSuffix(p, "/drain") {
			continue
		}
		req, _ := http.NewRequest(method, base+p, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer 0123456789abcdef-control")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %s", method, p, resp.Status)
		}
		if !readmeNames(string(readme), p) {
			t.Errorf("README.md's endpoint table does not name %s", p)
		}
	}
}

// readmeNames reports whether the README names path, literally or in the
// table's brace form (/api/v1/control/{withdraw,announce}).
func readmeNames(readme, path string) bool {
	if strings.Contains(readme, "`"+method(path)+" "+path+"`") || strings.Contains(readme, path+"`") {
		return true
	}
	i := strings.LastIndexByte(path, '/')
	dirPart, leaf := path[:i+1], path[i+1:]
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(dirPart)+`\{([^}]*)\}`).FindAllStringSubmatch(readme, -1) {
		for _, alt := range strings.Split(m[1], ",") {
			if alt == leaf {
				return true
			}
		}
	}
	return false
}

func method(path string) string {
	if strings.Contains(path, "/control/") || strings.HasSuffix(path, "/alertmanager") {
		return "POST"
	}
	return "GET"
}
