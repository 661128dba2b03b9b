// Package api serves the agent's own JSON API: GET /api/v1/findings, GET
// /api/v1/status, and the authenticated control API (POST
// /api/v1/control/{withdraw,announce,drain,undrain}) that `anydiag
// withdraw|announce|drain|undrain` call. It holds no state: the agent hands
// each handler the function or the engine it reads from, so a reload that
// replaces them takes effect at the next request.
package api

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/anydiag/anydiag/internal/finding"
)

// maxBody bounds a control request's body: a prefix and a reason.
const maxBody = 64 << 10

// Findings serves GET /api/v1/findings: the active findings, worst first,
// as a JSON list ([] when there are none, never null).
func Findings(active func() []finding.Finding) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fs := active()
		if fs == nil {
			fs = []finding.Finding{}
		}
		WriteJSON(w, http.StatusOK, fs)
	})
}

// Status serves GET /api/v1/status: whatever status returns, as JSON.
func Status(status func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, status())
	})
}

// WriteJSON writes v, indented, with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError writes {"error": msg} with the status code.
func writeError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}

// bearer reports whether the request carries the token, compared in
// constant time.
func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// parsePrefix explains what a prefix looks like when s is not one.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("prefix %q is not a prefix: write an address and a length, e.g. 192.0.2.1/32 or 2001:db8::1/128", s)
	}
	return p, nil
}

// NotHere answers every request with 404 and {"error": why}: for an API
// whose component this agent does not run, so a client learns why (and what
// to configure) instead of reading a bare 404.
func NotHere(why string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, why)
	})
}
