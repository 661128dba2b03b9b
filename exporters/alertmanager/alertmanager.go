// Package alertmanager receives Alertmanager webhook notifications (payload
// version 4) on POST /api/v1/alertmanager and turns firing and resolved
// alerts into holds on the policy engine, which applies its guards,
// dampening and audit to them as to any other decision.
package alertmanager

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Path is where the receiver listens.
const Path = "/api/v1/alertmanager"

// DefaultMaxBodyBytes bounds a notification; Alertmanager's batches are far smaller.
const DefaultMaxBodyBytes = 1 << 20

// Config is the `alertmanager:` section of the agent configuration.
type Config struct {
	Listen yamlconf.AddrPort `yaml:"listen" json:"listen"`
	// TokenFile holds the bearer token Alertmanager sends
	// (http_config.authorization.credentials_file on its side).
	TokenFile string `yaml:"token_file" json:"token_file"`
	// Insecure allows running without a token; refused otherwise.
	Insecure     bool   `yaml:"insecure" json:"insecure,omitempty"`
	CertFile     string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile      string `yaml:"key_file" json:"key_file,omitempty"`
	ClientCAFile string `yaml:"client_ca_file" json:"client_ca_file,omitempty"`
	MaxBodyBytes int64  `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// PrefixLabel and ActionLabel name the alert labels that choose the prefix
	// and the action (defaults anycast_prefix and anydiag_action).
	PrefixLabel string `yaml:"prefix_label" json:"prefix_label,omitempty"`
	ActionLabel string `yaml:"action_label" json:"action_label,omitempty"`
}

// Check reports semantic problems by key path.
func (c *Config) Check(p *yamlconf.Problems, path string) {
	if c.TokenFile == "" && !c.Insecure {
		p.Add(path+".token_file", "the webhook needs a bearer token file (or insecure: true, which lets anyone who reaches the port withdraw prefixes)")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		p.Add(path+".cert_file", "cert_file and key_file go together")
	}
	if c.ClientCAFile != "" && c.CertFile == "" {
		p.Add(path+".client_ca_file", "client certificates (mTLS) need TLS: set cert_file and key_file")
	}
	if c.MaxBodyBytes < 0 {
		p.Add(path+".max_body_bytes", "must not be negative")
	}
}

// Applier is what the receiver needs from the policy engine.
type Applier interface {
	ApplyAlerts(ctx context.Context, alerts []policy.Alert) ([]policy.Decision, error)
}

// Receiver is the webhook's HTTP handler.
type Receiver struct {
	cfg   Config
	token []byte
	apply Applier
	log   *slog.Logger
}

// New builds a receiver; it reads the token file and refuses to run without
// a token unless cfg.Insecure.
func New(cfg Config, a Applier, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PrefixLabel == "" {
		cfg.PrefixLabel = "anycast_prefix"
	}
	if cfg.ActionLabel == "" {
		cfg.ActionLabel = "anydiag_action"
	}
	r := &Receiver{cfg: cfg, apply: a, log: log}
	switch {
	case cfg.TokenFile != "":
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("alertmanager: reading token: %w", err)
		}
		r.token = bytes.TrimSpace(b)
		if len(r.token) < 16 {
			return nil, fmt.Errorf("alertmanager: token in %s is shorter than 16 bytes", cfg.TokenFile)
		}
	case !cfg.Insecure:
		return nil, errors.New("alertmanager: no token_file configured; refusing to accept unauthenticated withdrawals (set insecure: true to allow)")
	}
	return r, nil
}

// Message is the Alertmanager webhook payload, version 4.
type Message struct {
	Version         string            `json:"version"`
	GroupKey        string            `json:"groupKey"`
	TruncatedAlerts int               `json:"truncatedAlerts"`
	Status          string            `json:"status"`
	Receiver        string            `json:"receiver"`
	GroupLabels     map[string]string `json:"groupLabels"`
	CommonLabels    map[string]string `json:"commonLabels"`
	ExternalURL     string            `json:"externalURL"`
	Alerts          []AlertJSON       `json:"alerts"`
}

// AlertJSON is one alert of a Message.
type AlertJSON struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Decode parses and validates a payload into policy alerts, one per
// Alertmanager alert; any problem rejects the whole notification.
func Decode(body []byte, prefixLabel, actionLabel string) ([]policy.Alert, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: data after the payload")
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("payload version %q, want \"4\"", m.Version)
	}
	if len(m.Alerts) == 0 {
		return nil, errors.New("no alerts in the payload")
	}
	out := make([]policy.Alert, 0, len(m.Alerts))
	for i, a := range m.Alerts {
		var firing bool
		switch a.Status {
		case "firing":
			firing = true
		case "resolved":
		default:
			return nil, fmt.Errorf("alert %d: status %q, want firing or resolved", i, a.Status)
		}
		if a.Fingerprint == "" {
			return nil, fmt.Errorf("alert %d: no fingerprint", i)
		}
		ps, ok := a.Labels[prefixLabel]
		if !ok {
			return nil, fmt.Errorf("alert %d: no %s label", i, prefixLabel)
		}
		p, err := parseHostPrefix(ps)
		if err != nil {
			return nil, fmt.Errorf("alert %d: label %s: %w", i, prefixLabel, err)
		}
		action, ok := a.Labels[actionLabel]
		if !ok {
			return nil, fmt.Errorf("alert %d: no %s label", i, actionLabel)
		}
		if action != policy.ActionWithdraw && action != policy.ActionDegrade {
			return nil, fmt.Errorf("alert %d: label %s: unknown action %q (want withdraw or degrade)", i, actionLabel, action)
		}
		out = append(out, policy.Alert{Fingerprint: a.Fingerprint, Name: a.Labels["alertname"], Firing: firing,
			Prefix: p, Action: action, StartsAt: a.StartsAt})
	}
	return out, nil
}

func parseHostPrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q", s)
	}
	if p.Bits() != p.Addr().BitLen() {
		return netip.Prefix{}, fmt.Errorf("%q is not a host route", s)
	}
	return p, nil
}

// ServeHTTP implements http.Handler for POST Path.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != Path {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="anydiag"`)
		http.Error(w, "invalid or missing bearer token", http.StatusUnauthorized)
		r.log.Warn("alertmanager webhook: unauthorized request", "remote", req.RemoteAddr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("payload larger than %d bytes", mbe.Limit), http.StatusBadRequest)
			return
		}
		http.Error(w, "reading payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	alerts, err := Decode(body, r.cfg.PrefixLabel, r.cfg.ActionLabel)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	decisions, err := r.apply.ApplyAlerts(req.Context(), alerts)
	if err != nil {
		// The engine validated the batch and changed nothing.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if decisions == nil {
		decisions = []policy.Decision{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"decisions": decisions})
}

func (r *Receiver) authorized(req *http.Request) bool {
	if r.token == nil {
		return true
	}
	got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), r.token) == 1
}

// TLSConfig returns the server TLS configuration (nil without cert_file):
// with client_ca_file, clients must present a certificate it signed.
func (c Config) TLSConfig() (*tls.Config, error) {
	if c.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: loading certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("alertmanager: reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("alertmanager: no certificate in %s", c.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Serve serves the receiver on ln (with TLS when configured) until ctx ends.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	tc, err := r.cfg.TLSConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("alertmanager: %w", err)
}
