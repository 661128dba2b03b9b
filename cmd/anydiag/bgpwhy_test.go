package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/analyzers/pathchoice"
)

// fakeStation serves the BMP API's JSON contract with two PoPs' routes at one router.
func fakeStation(t *testing.T) *httptest.Server {
	routes := `[
 {"router":"203.0.113.1","peer_address":"198.51.100.2","peer_as":65100,"table":"adj-rib-in-pre","prefix":"192.0.2.0/24","path_id":0,"as_path":[65100,65100,65100],"next_hop":"198.51.100.2","origin":"igp","med":null,"local_pref":null,"communities":[],"large_communities":[]},
 {"router":"203.0.113.1","peer_address":"198.51.100.6","peer_as":65100,"table":"adj-rib-in-pre","prefix":"192.0.2.0/24","path_id":0,"as_path":[65100],"next_hop":"198.51.100.6","origin":"igp","med":null,"local_pref":null,"communities":[],"large_communities":[]},
 {"router":"203.0.113.1","peer_address":"198.51.100.9","peer_as":64666,"table":"adj-rib-in-pre","prefix":"192.0.2.128/25","path_id":0,"as_path":[64666],"next_hop":"198.51.100.9","origin":"igp","med":null,"local_pref":null,"communities":[],"large_communities":[]}]`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/bmp/routes", func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Query().Get("prefix"); p != "" {
			var all []map[string]any
			json.Unmarshal([]byte(routes), &all)
			var keep []map[string]any
			for _, x := range all {
				if x["prefix"] == p {
					keep = append(keep, x)
				}
			}
			json.NewEncoder(w).Encode(keep)
			return
		}
		w.Write([]byte(routes))
	})
	mux.HandleFunc("GET /api/v1/bmp/peers", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const testBGPConfig = `visibility:
  anycast_prefixes:
    - {prefix: 192.0.2.0/24, origin_as: [65100]}
  pops:
    - {name: fra, continent: EU, next_hops: [198.51.100.2]}
    - {name: sin, continent: AS, next_hops: [198.51.100.6]}
pathchoice:
  routers:
    - {address: 203.0.113.1, name: paris-ix, continent: EU}
`

func TestBGPWhyAndVisibilityCommands(t *testing.T) {
	srv := fakeStation(t)
	cfg := filepath.Join(t.TempDir(), "bgp.yaml")
	if err := os.WriteFile(cfg, []byte(testBGPConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "bgp", "why", "192.0.2.0/24", "--collector", srv.URL, "--config", cfg, "--json")
	var ex pathchoice.Explanation
	if code != exitFindings || json.Unmarshal([]byte(out), &ex) != nil || len(ex.Choices) != 1 ||
		ex.Choices[0].Best.PoP != "sin" || ex.Choices[0].Step != pathchoice.StepASPathLength {
		t.Fatalf("why: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "bgp", "why", "192.0.2.0/24", "--collector", srv.URL, "--config", cfg)
	if code != exitFindings || !strings.Contains(out, "AS_PATH length") || !strings.Contains(out, "catchment.misdirected_continent") {
		t.Fatalf("why: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "bgp", "visibility", "--collector", srv.URL, "--config", cfg)
	if code != exitFindings || !strings.Contains(out, "bgp.more_specific") || !strings.Contains(out, "bgp.unexpected_origin") {
		t.Fatalf("visibility: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ := runCLI(t, "bgp", "why", "not-a-prefix"); code != exitUsage {
		t.Fatalf("bad prefix: exit %d", code)
	}
	if code, _, _ := runCLI(t, "bgp", "visibility", "--collector", srv.URL); code != exitUsage {
		t.Fatalf("no prefix: exit %d", code)
	}
}
