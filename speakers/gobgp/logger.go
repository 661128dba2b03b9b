package gobgp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logger hands GoBGP's log lines to slog and remembers, per neighbor, why
// its session last went down: GoBGP's API has no field for it, but its
// "Peer Down" log line carries the reason.
type logger struct {
	log *slog.Logger

	mu      sync.Mutex
	level   gobgplog.LogLevel
	reasons map[string]string
}

func newLogger(l *slog.Logger) *logger {
	return &logger{log: l, level: gobgplog.InfoLevel, reasons: map[string]string{}}
}

func (l *logger) lastError(addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reasons[addr]
}

func (l *logger) emit(level slog.Level, gl gobgplog.LogLevel, msg string, fields gobgplog.Fields) {
	if msg == "Peer Down" {
		if key, ok := fields["Key"].(string); ok {
			l.mu.Lock()
			l.reasons[key] = fmt.Sprint(fields["Reason"])
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
