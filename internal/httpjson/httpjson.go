// Package httpjson is the one GET-and-decode client of anydiag's JSON APIs
// (the BMP station, the flap report, the agent's policy explanation) and of
// the Prometheus query API: the status check, the error body and the size
// bound live here once, so every client reports a failed answer the same way.
package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxBytes bounds a decoded answer when Client.MaxBytes is zero: a
// misdirected URL must not make the client read without end.
const DefaultMaxBytes = 64 << 20

// maxErrorBody bounds the body kept in a StatusError.
const maxErrorBody = 64 << 10

// Client reads JSON answers from one server.
type Client struct {
	// BaseURL is the server's address, "http://127.0.0.1:9178"; a trailing
	// slash is ignored.
	BaseURL string
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
	// MaxBytes bounds the decoded body (default DefaultMaxBytes).
	MaxBytes int64
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	// URL is the URL asked for.
	URL string
	// Code is the HTTP status code.
	Code int
	// Body is the start of the answer's body.
	Body []byte
}

// Error implements error.
func (e *StatusError) Error() string {
	if m := e.Message(); m != "" {
		return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Code, m)
	}
	return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
}

// Message is the body's "error" field when it is anydiag's (and
// Prometheus's) JSON error shape, else the body's text trimmed.
func (e *StatusError) Message() string {
	var j struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(e.Body, &j) == nil && j.Error != "" {
		return j.Error
	}
	return strings.TrimSpace(string(e.Body))
}

// Get fetches BaseURL+path (with query, when not empty) and decodes its JSON
// answer into v. It returns the answer's header (the BMP station's page
// cursor travels there). An answer other than 200 is a *StatusError.
func (c Client) Get(ctx context.Context, path string, query url.Values, v any) (http.Header, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The url.Error already names the method and URL.
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return resp.Header, &StatusError{URL: u, Code: resp.StatusCode, Body: b}
	}
	max := c.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	lr := &io.LimitedReader{R: resp.Body, N: max + 1}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N <= 0 {
			return resp.Header, fmt.Errorf("GET %s: the answer is over %d bytes", u, max)
		}
		return resp.Header, fmt.Errorf("GET %s: decoding: %w", u, err)
	}
	return resp.Header, nil
}

// Status returns the HTTP status code of err's StatusError, or 0 when err
// is not an answer other than 200 (a refused connection, a decoding error).
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
