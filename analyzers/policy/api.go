package policy

import (
	"encoding/json"
	"net/http"
)

// Handler serves the policy's read-only API, for the agent to mount:
// GET /api/v1/policy/explain, /api/v1/policy/audit and /api/v1/policy/findings.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/policy/explain", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, e.Explain(r.Context(), e.o.Now()))
	})
	mux.HandleFunc("GET /api/v1/policy/audit", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, e.Audit())
	})
	mux.HandleFunc("GET /api/v1/policy/findings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, e.Findings(e.o.Now()))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
