package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	probing "github.com/prometheus-community/pro-bing"
)

// Prober runs one probe of a check; a nil error means healthy. The caller
// bounds the probe with ctx's deadline (the check's timeout).
type Prober interface {
	Probe(ctx context.Context) error
}

// maxBodyBytes bounds how much of an HTTP response is read for body_match, so
// a misbehaving service cannot make the agent buffer without limit.
const maxBodyBytes = 64 << 10

// NewProber builds the prober of a checked, defaulted configuration.
func NewProber(c CheckConfig) (Prober, error) {
	switch c.Type {
	case TypeHTTP:
		return newHTTPProber(c)
	case TypeTCP:
		return tcpProber{address: c.Address}, nil
	case TypeDNS:
		return newDNSProber(c)
	case TypeICMP:
		return icmpProber{target: c.Target.String(), privileged: c.Privileged}, nil
	case TypeExec:
		if len(c.Command) == 0 {
			return nil, errors.New("exec check without a command")
		}
		return execProber{argv: slices.Clone(c.Command)}, nil
	}
	return nil, fmt.Errorf("unknown check type %q", c.Type)
}

type httpProber struct {
	client *http.Client
	url    string
	host   string
	status int
	body   *regexp.Regexp
}

func newHTTPProber(c CheckConfig) (*httpProber, error) {
	var body *regexp.Regexp
	if c.BodyMatch != "" {
		re, err := regexp.Compile(c.BodyMatch)
		if err != nil {
			return nil, fmt.Errorf("body_match: %w", err)
		}
		body = re
	}
	verify := c.TLSVerify == nil || *c.TLSVerify
	tr := &http.Transport{
		// Each probe opens a fresh connection: a health check must see a
		// service that stopped accepting, not a kept-alive socket.
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: !verify, ServerName: tlsServerName(c.Host)}, //nolint:gosec // operator's choice, off by default
		Proxy:             nil,
	}
	status := c.ExpectStatus
	if status == 0 {
		status = http.StatusOK
	}
	return &httpProber{
		client: &http.Client{
			Transport: tr,
			// A redirect is an answer of its own; expect_status says which answer is healthy.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		url: c.URL, host: c.Host, status: status, body: body,
	}, nil
}

// tlsServerName makes TLS verify the certificate against the Host header
// when one is configured, as a browser reaching that name would.
func tlsServerName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

func (p *httpProber) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != p.status {
		return fmt.Errorf("http: status %d, want %d", resp.StatusCode, p.status)
	}
	if p.body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("http: reading body: %w", err)
	}
	if !p.body.Match(b) {
		return fmt.Errorf("http: body does not match %q", p.body.String())
	}
	return nil
}

type tcpProber struct{ address string }

func (p tcpProber) Probe(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.address)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	return c.Close()
}

type dnsProber struct {
	client *dns.Client
	server string
	msg    *dns.Msg
	rcode  int
	expect []string
}

func newDNSProber(c CheckConfig) (*dnsProber, error) {
	qtype, ok := dns.StringToType[strings.ToUpper(c.QType)]
	if !ok {
		return nil, fmt.Errorf("dns: unknown qtype %q", c.QType)
	}
	rcode, ok := dns.StringToRcode[strings.ToUpper(c.RCode)]
	if !ok {
		return nil, fmt.Errorf("dns: unknown rcode %q", c.RCode)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(c.Query), qtype)
	return &dnsProber{
		client: &dns.Client{Net: c.Transport},
		server: c.Server.String(),
		msg:    m,
		rcode:  rcode,
		expect: c.ExpectAnswer,
	}, nil
}

func (p *dnsProber) Probe(ctx context.Context) error {
	// Copy so that concurrent probes never share a message ID.
	m := p.msg.Copy()
	m.Id = dns.Id()
	r, _, err := p.client.ExchangeContext(ctx, m, p.server)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if r.Rcode != p.rcode {
		return fmt.Errorf("dns: rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[p.rcode])
	}
	for _, want := range p.expect {
		if !answerHas(r.Answer, want) {
			return fmt.Errorf("dns: no answer record with data %q", want)
		}
	}
	return nil
}

// answerHas reports whether any record's data (the text after its header,
// for example "192.0.2.1" for an A record) equals want.
func answerHas(rrs []dns.RR, want string) bool {
	for _, rr := range rrs {
		data := strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
		if strings.EqualFold(data, want) {
			return true
		}
	}
	return false
}

type icmpProber struct {
	target     string
	privileged bool
}

func (p icmpProber) Probe(ctx context.Context) error {
	pg, err := probing.NewPinger(p.target)
	if err != nil {
		return fmt.Errorf("icmp: %w", err)
	}
	pg.SetPrivileged(p.privileged)
	pg.Count = 1
	if dl, ok := ctx.Deadline(); ok {
		pg.Timeout = time.Until(dl)
	}
	if err := pg.RunWithContext(ctx); err != nil {
		return fmt.Errorf("icmp: %w", err)
	}
	if pg.Statistics().PacketsRecv == 0 {
		return fmt.Errorf("icmp: no echo reply from %s", p.target)
	}
	return nil
}

type execProber struct{ argv []string }

// maxOutputBytes bounds the output kept from an exec check for its error message.
const maxOutputBytes = 4 << 10

func (p execProber) Probe(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	// Its own process group, so that on timeout the whole tree dies, not
	// only the shell that started the real check.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild holding the output pipe must not keep Wait blocked.
	cmd.WaitDelay = 100 * time.Millisecond
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		// Background children left by a check that exited are killed too:
		// they would pile up at every interval. ESRCH (none left) is fine.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("exec %s: timed out, process group killed: %w", p.argv[0], ctx.Err())
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("exec %s: %w: %s", p.argv[0], err, msg)
		}
		return fmt.Errorf("exec %s: %w", p.argv[0], err)
	}
	return nil
}

// limitedBuffer keeps the first maxOutputBytes written and drops the rest.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutputBytes - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
