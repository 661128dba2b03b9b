package gobgp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"

	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/gobgpctl"
)

// logger hands GoBGP's log lines to slog and remembers, per neighbor, why
// and when its session last went down: GoBGP's API has no field for it, but
// its "Peer Down" log line carries the reason, NOTIFICATION code and
// subcode included (not the NOTIFICATION's data: an RFC 9003 shutdown
// message is lost).
type logger struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	level gobgplog.LogLevel
	downs map[string]speakers.PeerDown
}

func newLogger(l *slog.Logger, now func() time.Time) *logger {
	return &logger{log: l, now: now, level: gobgplog.InfoLevel, downs: map[string]speakers.PeerDown{}}
}

// lastDown returns the last Peer Down of the neighbor at addr, or nil.
func (l *logger) lastDown(addr string) *speakers.PeerDown {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.downs[addr]
	if !ok {
		return nil
	}
	if d.Notification != nil {
		n := *d.Notification
		d.Notification = &n
	}
	return &d
}

func (l *logger) emit(level slog.Level, gl gobgplog.LogLevel, msg string, fields gobgplog.Fields) {
	if msg == "Peer Down" {
		if key, ok := fields["Key"].(string); ok {
			reason, n := gobgpctl.ParsePeerDownReason(fmt.Sprint(fields["Reason"]))
			l.mu.Lock()
			l.downs[key] = speakers.PeerDown{Time: l.now(), Reason: reason, Notification: n}
			l.mu.Unlock()
		}
	}
	if gl > l.GetLevel() {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for k, v := range fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	l.log.LogAttrs(context.Background(), level, "gobgp: "+msg, attrs...)
}

// Panic and Fatal are logged as errors: a library must not end the agent.
func (l *logger) Panic(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelError, gobgplog.PanicLevel, msg, f)
}
func (l *logger) Fatal(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelError, gobgplog.FatalLevel, msg, f)
}
func (l *logger) Error(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelError, gobgplog.ErrorLevel, msg, f)
}
func (l *logger) Warn(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelWarn, gobgplog.WarnLevel, msg, f)
}
func (l *logger) Info(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelInfo, gobgplog.InfoLevel, msg, f)
}
func (l *logger) Debug(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelDebug, gobgplog.DebugLevel, msg, f)
}

func (l *logger) SetLevel(level gobgplog.LogLevel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.level = level
}

func (l *logger) GetLevel() gobgplog.LogLevel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level
}
