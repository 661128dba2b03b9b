package alertmanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/speakers"
)

const token = "s3cret-token-0123456789"

var vip = netip.MustParsePrefix("192.0.2.1/32")

type memSpeaker struct {
	mu     sync.Mutex
	routes map[netip.Prefix]bool
	calls  int
}

func (s *memSpeaker) Announce(_ context.Context, p netip.Prefix, _ speakers.Attributes) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.routes[p] = true
	return nil
}

func (s *memSpeaker) Withdraw(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	delete(s.routes, p)
	return nil
}

func (s *memSpeaker) State(context.Context) ([]speakers.PrefixState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []speakers.PrefixState
	for p := range s.routes {
		out = append(out, speakers.PrefixState{Prefix: p, Announced: true})
	}
	return out, nil
}

func (s *memSpeaker) snapshot() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[vip], s.calls
}

func setup(t *testing.T, cfg Config) (*Receiver, *policy.Engine, *memSpeaker) {
	t.Helper()
	sp := &memSpeaker{routes: map[netip.Prefix]bool{vip: true}}
	e, err := policy.NewEngine(policy.Config{}, []netip.Prefix{vip}, policy.Options{Speaker: sp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cfg.Node == "" {
		cfg.Node = "ams1"
	}
	if cfg.TokenFile == "" && !cfg.Insecure {
		cfg.TokenFile = filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(cfg.TokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(cfg, e, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r, e, sp
}

func payload(status, prefix, action string) string {
	return payloadLabels(status, fmt.Sprintf(`"anycast_prefix":%q,"anydiag_action":%q,"node":"ams1"`, prefix, action))
}

// payloadLabels is a notification with one alert with the given labels
// (besides alertname), written as JSON object members.
func payloadLabels(status, labels string) string {
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"PopUnhealthy\"}","truncatedAlerts":0,"status":%q,
 "receiver":"anydiag","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
 "alerts":[{"status":%q,"labels":{"alertname":"PopUnhealthy",%s},
 "annotations":{},"startsAt":"2026-01-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"abc123"}]}`,
		status, status, labels)
}

func post(t *testing.T, h http.Handler, body, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookFiringAndResolved(t *testing.T) {
	r, e, sp := setup(t, Config{})
	rec := post(t, r, payload("firing", "192.0.2.1/32", "withdraw"), "Bearer "+token)
	if rec.Code != http.StatusOK {
		t.Fatalf("firing: %d %s", rec.Code, rec.Body)
	}
	if on, _ := sp.snapshot(); on {
		t.Fatal("firing withdraw alert did not withdraw")
	}
	if !strings.Contains(rec.Body.String(), `"source":"alert"`) {
		t.Fatalf("response %s", rec.Body)
	}
	rec = post(t, r, payload("resolved", "192.0.2.1", "withdraw"), "Bearer "+token)
	if rec.Code != http.StatusOK {
		t.Fatalf("resolved: %d %s", rec.Code, rec.Body)
	}
	if on, _ := sp.snapshot(); !on {
		t.Fatal("resolved alert did not release its hold")
	}
	if n := len(e.Audit()); n != 2 {
		t.Fatalf("%d audit entries, want 2", n)
	}
}

func TestWebhookHostileInput(t *testing.T) {
	big := `{"version":"4","alerts":[` + strings.Repeat(`{"status":"firing"},`, 100000) + `]}`
	tests := []struct {
		name string
		body string
		auth string
		code int
		msg  string
	}{
		{"no token", payload("firing", "192.0.2.1/32", "withdraw"), "", 401, "bearer token"},
		{"wrong token", payload("firing", "192.0.2.1/32", "withdraw"), "Bearer " + token + "x", 401, "bearer token"},
		{"basic auth", payload("firing", "192.0.2.1/32", "withdraw"), "Basic " + token, 401, "bearer token"},
		{"oversized", big, "Bearer " + token, 413, "larger than"},
		{"too many alerts", `{"version":"4","alerts":[` + strings.Repeat(`{"status":"firing"},`, 1000) + `{}]}`, "Bearer " + token, 413, "max_alerts_per_request"},
		{"invalid JSON", `{"version":"4",`, "Bearer " + token, 400, "invalid JSON"},
		{"trailing data", payload("firing", "192.0.2.1/32", "withdraw") + `{}`, "Bearer " + token, 400, "data after"},
		{"wrong version", strings.Replace(payload("firing", "192.0.2.1/32", "withdraw"), `"version":"4"`, `"version":"3"`, 1), "Bearer " + token, 400, "version"},
		{"missing prefix label", strings.Replace(payload("firing", "192.0.2.1/32", "withdraw"), `"anycast_prefix"`, `"prefix"`, 1), "Bearer " + token, 400, "no anycast_prefix label"},
		{"not a host route", payload("firing", "192.0.2.0/24", "withdraw"), "Bearer " + token, 400, "not a host route"},
		{"unknown action", payload("firing", "192.0.2.1/32", "reboot"), "Bearer " + token, 400, "unknown action"},
		{"unmanaged prefix", payload("firing", "203.0.113.5/32", "withdraw"), "Bearer " + token, 400, "not one of this node's"},
		{"degrade without attributes", payload("firing", "192.0.2.1/32", "degrade"), "Bearer " + token, 400, "sets no attributes"},
		{"bad status", payload("pending", "192.0.2.1/32", "withdraw"), "Bearer " + token, 400, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e, sp := setup(t, Config{MaxBodyBytes: 64 << 10})
			rec := post(t, r, tt.body, tt.auth)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body, tt.code, tt.msg)
			}
			if on, calls := sp.snapshot(); !on || calls != 0 || len(e.Audit()) != 0 {
				t.Fatalf("state changed: announced %v, speaker calls %d, audit %d", on, calls, len(e.Audit()))
			}
		})
	}
}

func TestNewRefusesNoToken(t *testing.T) {
	if _, err := New(Config{Node: "ams1"}, nil, nil); err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Fatalf("err %v", err)
	}
	if _, err := New(Config{Insecure: true}, nil, nil); err == nil || !strings.Contains(err.Error(), "node.name") {
		t.Fatalf("no node: err %v", err)
	}
	short := filepath.Join(t.TempDir(), "t")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := New(Config{TokenFile: short, Node: "ams1"}, nil, nil); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short token: %v", err)
	}
	open := filepath.Join(t.TempDir(), "open")
	os.WriteFile(open, []byte(token), 0o644)
	if _, err := New(Config{TokenFile: open, Node: "ams1"}, nil, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable token: %v", err)
	}
	r, _, sp := setup(t, Config{Insecure: true})
	if rec := post(t, r, payload("firing", "192.0.2.1/32", "withdraw"), ""); rec.Code != 200 {
		t.Fatalf("insecure mode: %d %s", rec.Code, rec.Body)
	}
	if on, _ := sp.snapshot(); on {
		t.Fatal("not withdrawn")
	}
}

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, and returns their paths and the CA pool.
type pki struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client                    tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "anydiag test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	p := pki{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "srv.pem"), keyFile: filepath.Join(dir, "srv.key"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	c, k := issue("server", x509.ExtKeyUsageServerAuth)
	os.WriteFile(p.certFile, c, 0o600)
	os.WriteFile(p.keyFile, k, 0o600)
	cc, ck := issue("alertmanager", x509.ExtKeyUsageClientAuth)
	if p.client, err = tls.X509KeyPair(cc, ck); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeMutualTLS(t *testing.T) {
	p := newPKI(t)
	r, _, sp := setup(t, Config{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "https://" + ln.Addr().String() + Path
	send := func(certs []tls.Certificate) (int, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(payload("firing", "192.0.2.1/32", "withdraw")))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := send(nil); err == nil {
		t.Fatalf("a client without certificate got HTTP %d", code)
	}
	if on, _ := sp.snapshot(); !on {
		t.Fatal("withdrawn by a client without certificate")
	}
	if code, err := send([]tls.Certificate{p.client}); err != nil || code != 200 {
		t.Fatalf("mTLS client: %d %v", code, err)
	}
	if on, _ := sp.snapshot(); on {
		t.Fatal("not withdrawn over mTLS")
	}
}

// Every PoP announces the same prefixes: only the node label says whose
// alert it is. A misrouted or unlabelled alert changes nothing.
func TestWebhookNodeMatching(t *testing.T) {
	labels := func(node string) string {
		l := `"anycast_prefix":"192.0.2.1/32","anydiag_action":"withdraw"`
		if node != "" {
			l += node
		}
		return l
	}
	tests := []struct {
		name      string
		cfg       Config
		labels    string
		withdrawn bool
		metric    string
	}{
		{"this node", Config{}, labels(`,"node":"ams1"`), true, ""},
		{"another PoP", Config{}, labels(`,"node":"fra1"`), false, `anydiag_alertmanager_alerts_ignored_total{reason="other_node"} 1`},
		{"no node label", Config{}, labels(""), false, `anydiag_alertmanager_alerts_ignored_total{reason="no_node_label"} 1`},
		{"empty node label", Config{}, labels(`,"node":""`), false, `anydiag_alertmanager_alerts_ignored_total{reason="no_node_label"} 1`},
		{"instance label, host:port", Config{NodeLabel: "instance"}, labels(`,"instance":"ams1:9100"`), true, ""},
		{"instance label, other host", Config{NodeLabel: "instance"}, labels(`,"instance":"fra1:9100","node":"ams1"`), false, `anydiag_alertmanager_alerts_ignored_total{reason="other_node"} 1`},
		// An alert for another PoP is that PoP's business: not validated here.
		{"another PoP, prefix not ours", Config{}, `"anycast_prefix":"203.0.113.9/32","anydiag_action":"withdraw","node":"fra1"`, false, `reason="other_node"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e, sp := setup(t, tt.cfg)
			set := metrics.NewSet()
			r.Register(set)
			rec := post(t, r, payloadLabels("firing", tt.labels), "Bearer "+token)
			if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			on, calls := sp.snapshot()
			if on == tt.withdrawn {
				t.Fatalf("announced %v after %s (body %s)", on, tt.name, rec.Body)
			}
			if !tt.withdrawn && (calls != 0 || len(e.Audit()) != 0 || !strings.Contains(rec.Body.String(), `"ignored"`)) {
				t.Fatalf("an ignored alert changed something: calls %d, audit %v, body %s", calls, e.Audit(), rec.Body)
			}
			var b strings.Builder
			set.WritePrometheus(&b)
			if tt.metric != "" && !strings.Contains(b.String(), tt.metric) {
				t.Fatalf("metrics lack %s:\n%s", tt.metric, b.String())
			}
		})
	}
}

// The engine's cap on holds shows in the answer: 422 with what was applied.
func TestWebhookHoldCap(t *testing.T) {
	r, _, sp := setup(t, Config{})
	var alerts []string
	for i := range policy.DefaultMaxAlertHoldsPerPrefix + 3 {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"A","anycast_prefix":"192.0.2.1","anydiag_action":"withdraw","node":"ams1"},"fingerprint":"f%d"}`, i))
	}
	rec := post(t, r, `{"version":"4","alerts":[`+strings.Join(alerts, ",")+`]}`, "Bearer "+token)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "3 firing alerts refused") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if on, _ := sp.snapshot(); on {
		t.Fatal("the alerts within the cap did not withdraw")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(payload("firing", "192.0.2.1/32", "withdraw")))
	f.Add([]byte(payload("resolved", "2001:db8::1", "degrade")))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		alerts, _, err := Decode(b, Config{PrefixLabel: "anycast_prefix", ActionLabel: "anydiag_action", NodeLabel: "node", Node: "ams1", MaxAlertsPerRequest: 100})
		if err != nil {
			return
		}
		for _, a := range alerts {
			if !a.Prefix.IsValid() || a.Prefix.Bits() != a.Prefix.Addr().BitLen() || a.Fingerprint == "" {
				t.Fatalf("accepted invalid alert %+v", a)
			}
		}
	})
}

// Served over loopback (internal/serve limits, no TLS): an oversized body is
// answered 413 and the server keeps serving.
func TestServePlain(t *testing.T) {
	r, _, sp := setup(t, Config{MaxBodyBytes: 4 << 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := &http.Client{Timeout: 5 * time.Second}
	send := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+Path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(strings.Repeat("x", 8<<10)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	if code := send(payload("firing", "192.0.2.1/32", "withdraw")); code != http.StatusOK {
		t.Fatalf("after the oversized body: %d", code)
	}
	if on, _ := sp.snapshot(); on {
		t.Fatal("not withdrawn")
	}
}
