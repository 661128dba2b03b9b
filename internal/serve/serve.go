// Package serve builds the HTTP servers of the agent, the BMP station and the
// Alertmanager webhook with the limits a public-facing node needs: every
// phase of a request has a deadline, and the number of open connections is
// capped well below the process's file-descriptor limit, so no client (nor
// many) can exhaust the descriptors the health checks and BGP sessions need.
package serve

import (
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what clients of one server can hold.
type Limits struct {
	// ReadHeaderTimeout bounds the time to send the request headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to send the whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response; handlers that stream (BMP routes) extend it
	// per chunk with http.ResponseController.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections with no request in flight.
	IdleTimeout time.Duration
	// MaxConns caps open connections; further clients wait in the kernel's
	// accept queue, holding no descriptor of ours. 0 means DefaultMaxConns().
	MaxConns int
	// MaxHeaderBytes caps the request line and headers.
	MaxHeaderBytes int
}

// DefaultLimits are the limits of the agent's and the station's servers:
// generous for Prometheus scrapes and the CLI, short for a client that sends
// nothing.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// New returns a server for h with the limits l (zero fields take
// DefaultLimits' values). Serve it on Listen(ln, l).
func New(h http.Handler, l Limits) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// Listen wraps ln so that at most l.MaxConns connections are open at once.
func Listen(ln net.Listener, l Limits) net.Listener {
	return netutil.LimitListener(ln, l.withDefaults().MaxConns)
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns()
	}
	return l
}

// DefaultMaxConns is the connection cap of one server: an eighth of the
// soft RLIMIT_NOFILE (so the three servers together hold well under half of
// the descriptors), between 64 and 4096.
func DefaultMaxConns() int {
	var r syscall.Rlimit
	n := 1024
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err == nil && r.Cur > 0 && r.Cur < 1<<31 {
		n = int(r.Cur)
	}
	return min(max(n/8, 64), 4096)
}

// RaiseNOFILE raises the soft RLIMIT_NOFILE to the hard limit, as a daemon
// that holds sockets for many peers should, and returns the new soft limit.
func RaiseNOFILE() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur >= r.Max {
		return r.Cur, nil
	}
	want := r
	want.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return r.Cur, err
	}
	return want.Cur, nil
}

// ResourceExhausted reports whether err is the process running out of
// descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM): a fault of this
// host, not an answer from the service or the network it probes.
func ResourceExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}
