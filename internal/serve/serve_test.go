package serve

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Idle clients beyond the cap hold no descriptor of the server's: it never
// has more than MaxConns connections accepted, and a client that sends
// nothing is cut off by ReadHeaderTimeout, freeing its slot.
func TestIdleClientsAreCappedAndCutOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limits{MaxConns: 4, ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	active := make(chan int, 100)
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }), l)
	var n atomic.Int32
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			active <- int(n.Add(1))
		case http.StateClosed, http.StateHijacked:
			n.Add(-1)
		}
	}
	go srv.Serve(Listen(ln, l))
	defer srv.Close()

	var idle []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// A real client still gets its answer once the idle ones time out.
	res, err := (&http.Client{Timeout: 30 * time.Second}).Get(fmt.Sprintf("http://%s/healthz", ln.Addr()))
	if err != nil {
		t.Fatalf("GET while 20 idle clients wait: %v", err)
	}
	res.Body.Close()
	srv.Close()
	close(active)
	peak := 0
	for v := range active {
		peak = max(peak, v)
	}
	if peak > l.MaxConns {
		t.Fatalf("server held %d connections at once, cap %d", peak, l.MaxConns)
	}
}

func TestResourceExhausted(t *testing.T) {
	for _, err := range []error{syscall.EMFILE, &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.EMFILE)}, syscall.ENFILE, syscall.ENOBUFS} {
		if !ResourceExhausted(err) {
			t.Errorf("ResourceExhausted(%v) = false", err)
		}
	}
	for _, err := range []error{syscall.ECONNREFUSED, io.EOF, nil} {
		if ResourceExhausted(err) {
			t.Errorf("ResourceExhausted(%v) = true", err)
		}
	}
}

func TestDefaultMaxConnsBelowNOFILE(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if m := DefaultMaxConns(); uint64(m) > r.Cur/2 && r.Cur >= 256 {
		t.Fatalf("DefaultMaxConns %d is not well below RLIMIT_NOFILE %d", m, r.Cur)
	}
}
