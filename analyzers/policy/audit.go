package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
)

// auditKeep is how many recent decisions the engine keeps for its API.
const auditKeep = 256

// auditLog writes decisions as JSON lines and keeps the latest in memory.
type auditLog struct {
	mu     sync.Mutex
	w      io.Writer
	recent []Decision
	buf    bytes.Buffer
	// failures counts lines not written; failing is set while the last
	// write failed, for the policy.audit_failing finding.
	failures atomic.Uint64
	failing  atomic.Bool
	lastErr  atomic.Pointer[string]
	onFail   func()
}

func newAuditLog(w io.Writer) *auditLog { return &auditLog{w: w} }

// rewinder is an audit file that can undo a partial line (an *os.File).
type rewinder interface {
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

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
	// The whole line is built first and handed to one Write: with O_APPEND a
	// line is never interleaved with another writer's, and on a full disk it
	// is written entirely or not at all (a partial write is cut off again).
	a.buf.Reset()
	enc := json.NewEncoder(&a.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		a.fail(fmt.Errorf("encoding audit line: %w", err))
		return
	}
	var end int64 = -1
	rw, canRewind := a.w.(rewinder)
	if canRewind {
		if off, err := rw.Seek(0, io.SeekEnd); err == nil {
			end = off
		}
	}
	n, err := a.w.Write(a.buf.Bytes())
	if err == nil && n < a.buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 && end >= 0 {
			if terr := rw.Truncate(end); terr != nil {
				err = fmt.Errorf("%w (and removing the partial line: %v)", err, terr)
			}
		}
		// The decision is already carried out; losing its line must not undo it.
		a.fail(fmt.Errorf("writing audit line: %w", err))
		return
	}
	a.failing.Store(false)
}

func (a *auditLog) fail(err error) {
	a.failures.Add(1)
	a.failing.Store(true)
	s := err.Error()
	a.lastErr.Store(&s)
	slog.Error("policy: audit line lost", "error", err)
	if a.onFail != nil {
		a.onFail()
	}
}

// AuditSpeakerStop records what stopping the speaker did to the prefixes the
// engine manages, after Shutdown: the embedded speaker closes its sessions,
// so upstreams drop a route the fleet guard kept; an external daemon keeps
// announcing. The lines go to the same audit log as every decision.
func (e *Engine) AuditSpeakerStop(ds []Decision) {
	for _, d := range ds {
		if d.Source == "" {
			d.Source = SourceShutdown
		}
		if d.Evidence == nil {
			d.Evidence = map[string]any{}
		}
		e.audit.write(d)
		e.count(d)
	}
}

// Audit returns the most recent decisions, oldest first.
func (e *Engine) Audit() []Decision {
	e.audit.mu.Lock()
	defer e.audit.mu.Unlock()
	return append([]Decision(nil), e.audit.recent...)
}
