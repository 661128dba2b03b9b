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

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/secret"
	"github.com/anydiag/anydiag/internal/serve"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Path is where the receiver listens.
const Path = "/api/v1/alertmanager"

// DefaultMaxBodyBytes bounds a notification; Alertmanager's batches are far smaller.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxAlertsPerRequest bounds the alerts of one notification.
const DefaultMaxAlertsPerRequest = 1000

// DefaultNodeLabel is the label that names the node an alert is for.
const DefaultNodeLabel = "node"

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
	// NodeLabel names the label that says which node an alert is for
	// (default node; instance is accepted too, host:port matching the host).
	// Every PoP announces the same prefixes, so an alert is applied only
	// when this label names this node: a misrouted alert never withdraws
	// the wrong PoP.
	NodeLabel string `yaml:"node_label" json:"node_label,omitempty"`
	// Node is this node's name in that label (default: node.name).
	Node string `yaml:"node" json:"node,omitempty"`
	// MaxAlertsPerRequest bounds one notification (default 1000); a larger
	// one is refused whole with 413.
	MaxAlertsPerRequest int `yaml:"max_alerts_per_request" json:"max_alerts_per_request,omitempty"`
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
	if c.MaxAlertsPerRequest < 0 {
		p.Add(path+".max_alerts_per_request", "must not be negative")
	}
}

// Applier is what the receiver needs from the policy engine.
type Applier interface {
	ApplyAlerts(ctx context.Context, alerts []policy.Alert) ([]policy.Decision, error)
}

// Receiver is the webhook's HTTP handler.
type Receiver struct {
	cfg     Config
	token   []byte
	apply   Applier
	log     *slog.Logger
	ignored map[string]*metrics.Counter
}

// Reasons an alert is ignored, the reason label of
// anydiag_alertmanager_alerts_ignored_total.
const (
	IgnoredNoNodeLabel = "no_node_label"
	IgnoredOtherNode   = "other_node"
)

// New builds a receiver; it reads the token file and refuses to run without
// a token unless cfg.Insecure, and without cfg.Node (the agent fills it
// from node.name).
func New(cfg Config, a Applier, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxAlertsPerRequest == 0 {
		cfg.MaxAlertsPerRequest = DefaultMaxAlertsPerRequest
	}
	if cfg.PrefixLabel == "" {
		cfg.PrefixLabel = "anycast_prefix"
	}
	if cfg.ActionLabel == "" {
		cfg.ActionLabel = "anydiag_action"
	}
	if cfg.NodeLabel == "" {
		cfg.NodeLabel = DefaultNodeLabel
	}
	if cfg.Node == "" {
		return nil, errors.New("alertmanager: no node name to match alerts against (set node.name, or alertmanager.node)")
	}
	r := &Receiver{cfg: cfg, apply: a, log: log, ignored: map[string]*metrics.Counter{}}
	for _, reason := range []string{IgnoredNoNodeLabel, IgnoredOtherNode} {
		r.ignored[reason] = &metrics.Counter{} // counted, exported once Register is called
	}
	switch {
	case cfg.TokenFile != "":
		t, err := secret.Read(cfg.TokenFile, "exporters.alertmanager.token_file")
		if err != nil {
			return nil, fmt.Errorf("alertmanager: %w", err)
		}
		r.token = []byte(t)
	case !cfg.Insecure:
		return nil, errors.New("alertmanager: no token_file configured; refusing to accept unauthenticated withdrawals (set insecure: true to allow)")
	}
	return r, nil
}

// Register exports the receiver's counters in s; call it before serving.
func (r *Receiver) Register(s *metrics.Set) {
	for reason, old := range r.ignored {
		c := s.GetOrCreateCounter(prometheus.Name("anydiag_alertmanager_alerts_ignored_total", "reason", reason))
		c.Add(int(old.Get()))
		r.ignored[reason] = c
	}
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

// Ignored is an alert of a notification that is not for this node.
type Ignored struct {
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"alertname,omitempty"`
	Reason      string `json:"reason"`
	Node        string `json:"node,omitempty"`
}

// TooManyAlertsError is a notification with more alerts than
// max_alerts_per_request.
type TooManyAlertsError struct{ N, Max int }

func (e *TooManyAlertsError) Error() string {
	return fmt.Sprintf("%d alerts in one notification, more than max_alerts_per_request %d", e.N, e.Max)
}

// Decode parses and validates a payload into policy alerts, one per
// Alertmanager alert whose node label names c.Node; alerts without the
// label or for another node are returned as ignored, unvalidated (they are
// another PoP's business). Any problem in an alert for this node rejects the
// whole notification. c's label names must be set (New fills the defaults).
func Decode(body []byte, c Config) ([]policy.Alert, []Ignored, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("invalid JSON: data after the payload")
	}
	if m.Version != "4" {
		return nil, nil, fmt.Errorf("payload version %q, want \"4\"", m.Version)
	}
	if len(m.Alerts) == 0 {
		return nil, nil, errors.New("no alerts in the payload")
	}
	if c.MaxAlertsPerRequest > 0 && len(m.Alerts) > c.MaxAlertsPerRequest {
		return nil, nil, &TooManyAlertsError{N: len(m.Alerts), Max: c.MaxAlertsPerRequest}
	}
	out := make([]policy.Alert, 0, len(m.Alerts))
	var ignored []Ignored
	for i, a := range m.Alerts {
		node, ok := a.Labels[c.NodeLabel]
		switch {
		case !ok || node == "":
			ignored = append(ignored, Ignored{Fingerprint: a.Fingerprint, Name: a.Labels["alertname"], Reason: IgnoredNoNodeLabel})
			continue
		case !sameNode(node, c.Node):
			ignored = append(ignored, Ignored{Fingerprint: a.Fingerprint, Name: a.Labels["alertname"], Reason: IgnoredOtherNode, Node: node})
			continue
		}
		var firing bool
		switch a.Status {
		case "firing":
			firing = true
		case "resolved":
		default:
			return nil, nil, fmt.Errorf("alert %d: status %q, want firing or resolved", i, a.Status)
		}
		if a.Fingerprint == "" {
			return nil, nil, fmt.Errorf("alert %d: no fingerprint", i)
		}
		ps, ok := a.Labels[c.PrefixLabel]
		if !ok {
			return nil, nil, fmt.Errorf("alert %d: no %s label", i, c.PrefixLabel)
		}
		p, err := parseHostPrefix(ps)
		if err != nil {
			return nil, nil, fmt.Errorf("alert %d: label %s: %w", i, c.PrefixLabel, err)
		}
		action, ok := a.Labels[c.ActionLabel]
		if !ok {
			return nil, nil, fmt.Errorf("alert %d: no %s label", i, c.ActionLabel)
		}
		if action != policy.ActionWithdraw && action != policy.ActionDegrade {
			return nil, nil, fmt.Errorf("alert %d: label %s: unknown action %q (want withdraw or degrade)", i, c.ActionLabel, action)
		}
		out = append(out, policy.Alert{Fingerprint: a.Fingerprint, Name: a.Labels["alertname"], Firing: firing,
			Prefix: p, Action: action, StartsAt: a.StartsAt, EndsAt: a.EndsAt})
	}
	return out, ignored, nil
}

// sameNode reports whether a node label names node: exactly, or, for an
// instance label (host:port), by its host.
func sameNode(label, node string) bool {
	if label == node {
		return true
	}
	host, _, err := net.SplitHostPort(label)
	return err == nil && host == node
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
			http.Error(w, fmt.Sprintf("payload larger than %d bytes (max_body_bytes)", mbe.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	alerts, ignored, err := Decode(body, r.cfg)
	if err != nil {
		code := http.StatusBadRequest
		var tm *TooManyAlertsError
		if errors.As(err, &tm) {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	for _, ig := range ignored {
		r.ignored[ig.Reason].Inc()
		// Never applied: every PoP has the same prefixes, so only the node
		// label tells whose alert it is.
		r.log.Warn("alertmanager webhook: alert not for this node, ignored", "fingerprint", ig.Fingerprint, "alertname", ig.Name,
			"reason", ig.Reason, "node_label", r.cfg.NodeLabel, "value", ig.Node, "this_node", r.cfg.Node)
	}
	decisions := []policy.Decision{}
	code := http.StatusOK
	reply := map[string]any{}
	if len(alerts) > 0 {
		ds, err := r.apply.ApplyAlerts(req.Context(), alerts)
		var capErr *policy.HoldsRefusedError
		switch {
		case errors.As(err, &capErr):
			// Applied but for the alerts beyond the cap: say so, with what was done.
			code = http.StatusUnprocessableEntity
			reply["error"] = err.Error()
		case err != nil:
			// The engine validated the batch and changed nothing.
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ds != nil {
			decisions = ds
		}
	}
	reply["decisions"] = decisions
	if len(ignored) > 0 {
		reply["ignored"] = ignored
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(reply)
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

// DefaultMaxConns caps the webhook's connections: Alertmanager opens a few.
const DefaultMaxConns = 64

// Serve serves the receiver on ln (with TLS when configured) until ctx ends.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	tc, err := r.cfg.TLSConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		// TLS inside the connection cap: a handshake holds a descriptor too.
		ln = tls.NewListener(serve.Listen(ln, serve.Limits{MaxConns: DefaultMaxConns}), tc)
	} else {
		ln = serve.Listen(ln, serve.Limits{MaxConns: DefaultMaxConns})
	}
	srv := serve.New(r, serve.Limits{MaxConns: DefaultMaxConns})
	srv.ErrorLog = slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)
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

func init() {
	prometheus.Describe("anydiag_alertmanager_alerts_ignored_total", prometheus.Counter,
		"Webhook alerts ignored because their node label is missing (reason no_node_label) or names another node (other_node).")
}
