package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"

	"github.com/anydiag/anydiag/analyzers/policy"
)

// Controller is what the control API drives; *policy.Engine is one.
type Controller interface {
	ManualWithdraw(ctx context.Context, prefix netip.Prefix, reason string) (policy.Decision, error)
	ManualAnnounce(ctx context.Context, prefix netip.Prefix) (policy.Decision, error)
	Drain(ctx context.Context) ([]policy.Decision, error)
	Undrain(ctx context.Context) ([]policy.Decision, error)
}

// ControlRequest is the body of the control API's POST requests; drain and
// undrain take none.
type ControlRequest struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// MountControl serves the control API on mux. Without a token it is not
// served at all: an unauthenticated withdraw button is an outage waiting
// to happen. A request without the token gets 401, a bad body or prefix
// 400, a refused or failed decision 409 with the decisions; an
// authenticated request calls after once it is answered (the agent wakes
// its policy loop, so the findings follow at once).
func MountControl(mux *http.ServeMux, c Controller, token string, after func()) {
	if token == "" {
		return
	}
	auth := func(h func(http.ResponseWriter, *http.Request, ControlRequest)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !bearer(r, token) {
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			var req ControlRequest
			if r.ContentLength != 0 {
				if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
					writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
					return
				}
			}
			if after != nil {
				defer after()
			}
			h(w, r, req)
		}
	}
	prefixOf := func(w http.ResponseWriter, req ControlRequest) (netip.Prefix, bool) {
		p, err := parsePrefix(req.Prefix)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return p, false
		}
		return p, true
	}
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			WriteJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "decisions": v})
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("POST /api/v1/control/withdraw", auth(func(w http.ResponseWriter, r *http.Request, req ControlRequest) {
		if p, ok := prefixOf(w, req); ok {
			d, err := c.ManualWithdraw(r.Context(), p, req.Reason)
			reply(w, []policy.Decision{d}, err)
		}
	}))
	mux.HandleFunc("POST /api/v1/control/announce", auth(func(w http.ResponseWriter, r *http.Request, req ControlRequest) {
		if p, ok := prefixOf(w, req); ok {
			d, err := c.ManualAnnounce(r.Context(), p)
			reply(w, []policy.Decision{d}, err)
		}
	}))
	mux.HandleFunc("POST /api/v1/control/drain", auth(func(w http.ResponseWriter, r *http.Request, _ ControlRequest) {
		ds, err := c.Drain(r.Context())
		reply(w, ds, err)
	}))
	mux.HandleFunc("POST /api/v1/control/undrain", auth(func(w http.ResponseWriter, r *http.Request, _ ControlRequest) {
		ds, err := c.Undrain(r.Context())
		reply(w, ds, err)
	}))
}
