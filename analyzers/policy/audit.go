package policy

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
)

// auditKeep is how many recent decisions the engine keeps for its API.
const auditKeep = 256

// auditLog writes decisions as JSON lines and keeps the latest in memory.
type auditLog struct {
	mu     sync.Mutex
	w      io.Writer
	recent []Decision
}

func newAuditLog(w io.Writer) *auditLog { return &auditLog{w: w} }

func (a *auditLog) write(d Decision) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) == auditKeep {
		copy(a.recent, a.recent[1:])
		a.recent = a.recent[:auditKeep-1]
	}
	a.recent = append(a.recent, d)
	if a.w == nil {
		return
	}
	b, err := json.Marshal(d)
	if err != nil {
		slog.Error("policy: encoding audit line", "error", err)
		return
	}
	if _, err := a.w.Write(append(b, '\n')); err != nil {
		// The decision is already carried out; losing its line must not undo it.
		slog.Error("policy: writing audit line", "error", err)
	}
}

// Audit returns the most recent decisions, oldest first.
func (e *Engine) Audit() []Decision {
	e.audit.mu.Lock()
	defer e.audit.mu.Unlock()
	return append([]Decision(nil), e.audit.recent...)
}
