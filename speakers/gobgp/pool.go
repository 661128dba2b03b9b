package gobgp

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// GoBGP v3's Serve loop never returns: a stopped BgpServer keeps one parked
// goroutine for ever. An agent that restarts its speaker on every reload
// that changes it would leak one per reload, so a stopped server is kept
// here and started again (StartBgp after StopBgp) by the next Start.
//
// A reused server keeps its closed listeners in its internal list (StopBgp
// closes them, StartBgp appends the new ones), and AddPeer sets a
// neighbor's TCP-MD5 key on every listener in that list. On the new
// listener that works as on a fresh server; on a closed one GoBGP's
// setsockopt goes through the descriptor's reference count, which fails
// with net.ErrClosed before any syscall (so never on a descriptor number
// reused since), and GoBGP only logs "failed to set md5". The key on the
// active side is set by the dialer per connection, not through the list. A
// server with passwords is therefore reused like any other, and those
// warnings, which would mislead an operator into suspecting the key, are
// dropped (switchLogger.Warn); any other MD5 failure is still logged.
var idle struct {
	mu      sync.Mutex
	servers []*pooledServer
}

// pooledServer is a BgpServer and the logger it was built with, which the
// next owner points at its own.
type pooledServer struct {
	srv *server.BgpServer
	lg  *switchLogger
}

// getServer returns a running, stopped-or-new BgpServer logging to lg.
func getServer(lg *logger) *pooledServer {
	idle.mu.Lock()
	n := len(idle.servers)
	if n > 0 {
		p := idle.servers[n-1]
		idle.servers = idle.servers[:n-1]
		idle.mu.Unlock()
		p.lg.cur.Store(lg)
		return p
	}
	idle.mu.Unlock()
	sl := &switchLogger{}
	sl.cur.Store(lg)
	p := &pooledServer{srv: server.NewBgpServer(server.LoggerOption(sl)), lg: sl}
	go p.srv.Serve()
	return p
}

// putServer stops p's server and keeps it for the next Start.
func putServer(p *pooledServer) {
	p.srv.Stop()
	idle.mu.Lock()
	idle.servers = append(idle.servers, p)
	idle.mu.Unlock()
}

// switchLogger forwards GoBGP's logs to the current owner's logger.
type switchLogger struct{ cur atomic.Pointer[logger] }

func (s *switchLogger) Panic(msg string, f gobgplog.Fields) { s.cur.Load().Panic(msg, f) }
func (s *switchLogger) Fatal(msg string, f gobgplog.Fields) { s.cur.Load().Fatal(msg, f) }
func (s *switchLogger) Error(msg string, f gobgplog.Fields) { s.cur.Load().Error(msg, f) }
func (s *switchLogger) Warn(msg string, f gobgplog.Fields) {
	if closedListenerMD5(msg, f) {
		return
	}
	s.cur.Load().Warn(msg, f)
}
func (s *switchLogger) Info(msg string, f gobgplog.Fields)  { s.cur.Load().Info(msg, f) }
func (s *switchLogger) Debug(msg string, f gobgplog.Fields) { s.cur.Load().Debug(msg, f) }
func (s *switchLogger) SetLevel(l gobgplog.LogLevel)        { s.cur.Load().SetLevel(l) }
func (s *switchLogger) GetLevel() gobgplog.LogLevel         { return s.cur.Load().GetLevel() }

// closedListenerMD5 is GoBGP's warning for a TCP-MD5 key it could not set
// on a listener a previous owner of a pooled server closed (see above).
func closedListenerMD5(msg string, f gobgplog.Fields) bool {
	err, ok := f["Err"].(error)
	return msg == "failed to set md5" && ok && errors.Is(err, net.ErrClosed)
}
