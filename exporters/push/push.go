// Package push sends the agent's metrics to VictoriaMetrics (or vmagent) on
// an interval, for PoPs that Prometheus cannot scrape.
//
// The body is the same Prometheus text the agent serves on /metrics, with
// the configured extra labels (node, site) set on every sample and the
// collection time as the samples' timestamp, gzipped and POSTed to
// /api/v1/import/prometheus. VictoriaMetrics/metrics has push helpers, but
// they prepend extra labels without replacing one the sample already has
// (anydiag_build_info carries node and site, so it would get each label
// twice), panic on a line they cannot split, and count pushes in the global
// set the agent does not serve; hence this small client.
package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/yamlconf"
)

func init() {
	prometheus.Describe("anydiag_push_total", prometheus.Counter,
		"Pushes of the agent's metrics to VictoriaMetrics attempted.")
	prometheus.Describe("anydiag_push_failures_total", prometheus.Counter,
		"Pushes of the agent's metrics to VictoriaMetrics that failed (write, network, timeout or non-2xx answer).")
}

// DefaultInterval is the push interval when Config.Interval is zero.
const DefaultInterval = 15 * time.Second

// ImportPath is VictoriaMetrics' endpoint for the Prometheus text format,
// used when Config.URL has no path.
const ImportPath = "/api/v1/import/prometheus"

// One push is given up after the interval, bounded by these: a slow server
// is abandoned well before the next push on long intervals, and a short
// interval still leaves a loaded host time to connect.
const (
	minTimeout = time.Second
	maxTimeout = 30 * time.Second
)

// Config is the push section of the agent's configuration.
type Config struct {
	// URL is the import endpoint, e.g.
	// http://vm.example.net:8428/api/v1/import/prometheus; a URL without a
	// path gets ImportPath.
	URL      string            `yaml:"url" json:"url"`
	Interval yamlconf.Duration `yaml:"interval" json:"interval"`
	// ExtraLabels are set on every sample, replacing a label of the same
	// name; the agent puts node and site here.
	ExtraLabels map[string]string `yaml:"extra_labels" json:"extra_labels,omitempty"`
}

var labelNameRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Check reports problems by key path; path is where the section sits in the
// document (for example "exporters.push").
func (c *Config) Check(p *yamlconf.Problems, path string) {
	for _, pr := range c.problems() {
		p.Add(path+pr.key, "%s", pr.msg)
	}
	if d := c.Interval.D(); d != 0 && d < time.Second {
		p.Add(path+".interval", "%s is too short: push at most once a second (default %s)", d, DefaultInterval)
	}
}

// problem is one thing wrong with a Config, at a key relative to it. New
// refuses these; the minimum interval is only a configuration rule.
type problem struct{ key, msg string }

func (c *Config) problems() []problem {
	var out []problem
	if _, err := importURL(c.URL); err != nil {
		out = append(out, problem{".url", err.Error()})
	}
	names := make([]string, 0, len(c.ExtraLabels))
	for n := range c.ExtraLabels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		key := ".extra_labels." + n
		switch {
		case !labelNameRe.MatchString(n):
			out = append(out, problem{key, fmt.Sprintf("%q is not a label name (letters, digits and _, not starting with a digit)", n)})
		case strings.HasPrefix(n, "__"):
			out = append(out, problem{key, "label names starting with __ are reserved"})
		case c.ExtraLabels[n] == "":
			out = append(out, problem{key, "empty value: a label with an empty value is no label at all"})
		}
	}
	return out
}

// importURL validates u and adds ImportPath when it has no path.
func importURL(u string) (string, error) {
	if u == "" {
		return "", fmt.Errorf("required: the import URL, like http://127.0.0.1:8428%s", ImportPath)
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", u, err)
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return "", fmt.Errorf("%q is not an http(s) URL", u)
	}
	if pu.Host == "" {
		return "", fmt.Errorf("%q has no host", u)
	}
	if pu.Path == "" || pu.Path == "/" {
		pu.Path = ImportPath
	}
	return pu.String(), nil
}

// Pusher pushes metrics on an interval; build it with New.
type Pusher struct {
	url      string
	interval time.Duration
	extra    []label
	write    func(io.Writer) error
	now      func() time.Time
	client   *http.Client
	log      *slog.Logger

	set      *metrics.Set
	total    *metrics.Counter
	failures *metrics.Counter
}

// New builds a Pusher that sends what write produces (the Prometheus text
// format, as exporters/prometheus.Write writes it), stamped with now().
func New(cfg Config, write func(io.Writer) error, now func() time.Time) (*Pusher, error) {
	if ps := cfg.problems(); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, pr := range ps {
			msgs[i] = strings.TrimPrefix(pr.key, ".") + ": " + pr.msg
		}
		return nil, fmt.Errorf("push: invalid configuration: %s", strings.Join(msgs, "; "))
	}
	u, err := importURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	interval := cfg.Interval.D()
	if interval == 0 {
		interval = DefaultInterval
	}
	set := metrics.NewSet()
	return &Pusher{
		url:      u,
		interval: interval,
		extra:    sortedLabels(cfg.ExtraLabels),
		write:    write,
		now:      now,
		client:   &http.Client{},
		log:      slog.Default().With("component", "push", "url", u),
		set:      set,
		total:    set.NewCounter("anydiag_push_total"),
		failures: set.NewCounter("anydiag_push_failures_total"),
	}, nil
}

// Metrics is the set holding the pusher's own counters, for the agent to
// serve (and push) with its other sets.
func (p *Pusher) Metrics() *metrics.Set { return p.set }

// Run pushes at once and then every interval until ctx ends. A failed push
// is logged and counted, and the next one is tried at the next tick: the
// samples of a missed interval are not sent later.
func (p *Pusher) Run(ctx context.Context) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		err := p.Push(ctx)
		if ctx.Err() != nil {
			// Checked before select, which picks at random between a due
			// tick and the end.
			return nil
		}
		if err != nil {
			p.log.Warn("push failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Push sends the metrics once.
func (p *Pusher) Push(ctx context.Context) error {
	p.total.Inc()
	if err := p.push(ctx); err != nil {
		p.failures.Inc()
		return err
	}
	return nil
}

func (p *Pusher) push(ctx context.Context) error {
	var text bytes.Buffer
	if err := p.write(&text); err != nil {
		return fmt.Errorf("push: writing metrics: %w", err)
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if err := rewrite(zw, text.Bytes(), p.extra, p.now().UnixMilli()); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("push: compressing: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, max(minTimeout, min(p.interval, maxTimeout)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, &body)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push: %s answered %s: %s", p.url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
