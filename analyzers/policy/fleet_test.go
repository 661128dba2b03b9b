package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/lab"
)

func TestBMPCounter(t *testing.T) {
	// Routes as the BMP collector's API returns them (DESIGN.md contract):
	// three PoPs, one seen through two peers, plus a route for another prefix.
	routes := `[
 {"router":"198.51.100.1","peer_address":"198.51.100.11","peer_as":64501,"table":"adj-rib-in-post","prefix":"192.0.2.1/32","path_id":0,"as_path":[64501,64999],"next_hop":"203.0.113.1","origin":"igp","med":0,"local_pref":100,"communities":[],"large_communities":[]},
 {"router":"198.51.100.1","peer_address":"198.51.100.12","peer_as":64502,"table":"adj-rib-in-post","prefix":"192.0.2.1/32","path_id":0,"as_path":[64502,64998],"next_hop":"203.0.113.2","origin":"igp","communities":[]},
 {"router":"198.51.100.2","peer_address":"198.51.100.13","peer_as":64503,"table":"adj-rib-in-post","prefix":"192.0.2.1/32","path_id":0,"as_path":[64503,64998],"next_hop":"203.0.113.2","origin":"igp","communities":[]},
 {"router":"198.51.100.2","peer_address":"198.51.100.13","peer_as":64503,"table":"adj-rib-in-post","prefix":"192.0.2.1/32","path_id":0,"as_path":[64503,64997],"next_hop":"203.0.113.3","origin":"igp","communities":[]},
 {"router":"198.51.100.2","peer_address":"198.51.100.13","peer_as":64503,"table":"adj-rib-in-post","prefix":"192.0.2.9/32","path_id":0,"as_path":[64503,64996],"next_hop":"203.0.113.4","origin":"igp","communities":[]}
]`
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/bmp/routes" {
			http.NotFound(w, r)
			return
		}
		gotQuery = r.URL.RawQuery
		io.WriteString(w, routes)
	}))
	defer srv.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "collector starting", http.StatusServiceUnavailable)
	}))
	defer broken.Close()

	tests := []struct {
		name    string
		c       BMPCounter
		want    int
		wantErr string
	}{
		{"by origin", BMPCounter{BaseURL: srv.URL}, 3, ""},
		{"by next hop", BMPCounter{BaseURL: srv.URL, CountBy: "next_hop"}, 3, ""},
		{"by pop, unmapped next hops not counted", BMPCounter{BaseURL: srv.URL, CountBy: "pop",
			Pops: map[string]string{"203.0.113.1": "ams", "203.0.113.2": "ams"}}, 1, ""},
		{"collector down", BMPCounter{BaseURL: broken.URL}, 0, "HTTP 503"},
		{"nothing listening", BMPCounter{BaseURL: "http://" + freeAddr(t)}, 0, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Client = &http.Client{Timeout: 2 * time.Second}
			n, err := tt.c.Announcing(context.Background(), pfx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("Announcing = %d, %v; want %d", n, err, tt.want)
			}
			if gotQuery != "prefix=192.0.2.1%2F32" {
				t.Fatalf("query %q", gotQuery)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startVictoriaMetrics runs the Debian victoria-metrics binary on 127.0.0.1
// with a temporary data directory and returns its base URL.
func startVictoriaMetrics(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("victoria-metrics")
	if err != nil {
		t.Skip("victoria-metrics not installed (Debian package victoria-metrics)")
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(),
		"-search.latencyOffset=0s", "-loggerLevel=ERROR")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting victoria-metrics: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	err = lab.WaitFor(context.Background(), 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("/health: HTTP %d", resp.StatusCode)
	})
	if err != nil {
		t.Fatalf("victoria-metrics on %s not ready: %v", addr, err)
	}
	return base
}

func TestPromQLCounterVictoriaMetrics(t *testing.T) {
	base := startVictoriaMetrics(t)
	metrics := "" +
		`anydiag_policy_announced{prefix="192.0.2.1/32",node="ams"} 1` + "\n" +
		`anydiag_policy_announced{prefix="192.0.2.1/32",node="fra"} 1` + "\n" +
		`anydiag_policy_announced{prefix="192.0.2.1/32",node="sin"} 0` + "\n" +
		`anydiag_policy_announced{prefix="192.0.2.2/32",node="ams"} 1` + "\n"
	resp, err := http.Post(base+"/api/v1/import/prometheus", "text/plain", strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("import: HTTP %d", resp.StatusCode)
	}
	if resp, err := http.Get(base + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	c := &PromQLCounter{BaseURL: base, Client: &http.Client{Timeout: 5 * time.Second},
		Query: `count(anydiag_policy_announced{prefix="$prefix"} == 1)`}
	// Imported samples become searchable after a moment: poll.
	err = lab.WaitFor(context.Background(), 15*time.Second, 100*time.Millisecond, func() (bool, error) {
		n, err := c.Announcing(context.Background(), pfx)
		if err != nil {
			return false, err
		}
		return n == 2, fmt.Errorf("Announcing = %d, want 2", n)
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		query   string
		prefix  netip.Prefix
		want    int
		wantErr string
	}{
		{"other prefix", `count(anydiag_policy_announced{prefix="$prefix"} == 1)`, pfx2, 1, ""},
		{"no series counts zero", `count(anydiag_policy_announced{prefix="$prefix"} == 1)`, netip.MustParsePrefix("203.0.113.7/32"), 0, ""},
		{"scalar", `scalar(sum(anydiag_policy_announced{prefix="$prefix"}))`, pfx, 2, ""},
		{"several series refused", `anydiag_policy_announced{prefix="$prefix"}`, pfx, 0, "returned 3 series"},
		{"syntax error", `count(`, pfx, 0, "promql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Query = tt.query
			n, err := c.Announcing(context.Background(), tt.prefix)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("Announcing = %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

// FuzzPromQLResponse feeds arbitrary answers to the PromQL decoder: it must
// return a count or an error, never panic.
func FuzzPromQLResponse(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		defer srv.Close()
		c := &PromQLCounter{BaseURL: srv.URL, Client: srv.Client(), Query: "q"}
		n, err := c.Announcing(context.Background(), pfx)
		if err == nil && n < 0 {
			t.Fatalf("negative count %d", n)
		}
		var v any
		if err == nil && json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("invalid JSON %q accepted", body)
		}
	})
}

// TestBMPCounterFollowsPages: a station pages /routes (limits.api_page_size);
// origins on the second page count too.
func TestBMPCounterFollowsPages(t *testing.T) {
	pages := map[string]string{
		"":   `[{"prefix":"192.0.2.1/32","as_path":[64501,64999],"next_hop":"203.0.113.1"}]`,
		"p2": `[{"prefix":"192.0.2.1/32","as_path":[64502,64998],"next_hop":"203.0.113.2"}]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("cursor")
		body, ok := pages[c]
		if !ok {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
		if c == "" {
			w.Header().Set(bmp.NextCursorHeader, "p2")
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	n, err := (&BMPCounter{BaseURL: srv.URL}).Announcing(context.Background(), pfx)
	if err != nil || n != 2 {
		t.Fatalf("Announcing = %d, %v; want 2 (one origin on each page)", n, err)
	}
}
