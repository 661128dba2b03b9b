package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// twoNodes is the smallest lab: a and b on one link.
func twoNodes() *Topology {
	return &Topology{
		Name:  "pair",
		Nodes: []Node{{Name: "a", Loopback: []string{"192.0.2.1/32"}}, {Name: "b"}},
		Links: []Link{{
			A: Endpoint{Node: "a", Addrs: []string{"198.51.100.1/24", "2001:db8::1/64"}},
			B: Endpoint{Node: "b", Addrs: []string{"198.51.100.2/24", "2001:db8::2/64"}},
		}},
	}
}

// processGone reports whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	st, _, err := procStat(pid)
	return err != nil || st == 'Z' || st == 'X'
}

func TestCloseLeavesNothing(t *testing.T) {
	needRoot(t)
	l, err := Up(t.Context(), twoNodes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Node("a").Start(t.Context(), "sleeper", []string{"sleep", "1000"}, StartOptions{})
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	// A process that ignores SIGTERM must still be gone after Close.
	stubborn, err := l.Node("b").Start(t.Context(), "stubborn", []string{"sh", "-c", "trap '' TERM; echo ready; exec sleep 1000"},
		StartOptions{StopTimeout: 200 * time.Millisecond})
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	// ip netns exec switches namespace after Start returns; the shell
	// ignores SIGTERM only once it has printed ready.
	err = WaitFor(t.Context(), 5*time.Second, 10*time.Millisecond, func() (bool, error) {
		pids, err := PIDsIn(l.Node("a").Namespace())
		if err != nil || !slices.Contains(pids, p.PID()) {
			return false, fmt.Errorf("sleeper pid %d not in namespace: %v %v", p.PID(), pids, err)
		}
		if !strings.Contains(stubborn.LogTail(), "ready") {
			return false, errors.New("stubborn shell not ready")
		}
		return true, nil
	})
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	tmp := l.TempDir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	out, err := runCmd(context.Background(), "", "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), l.ID()+"-") {
		t.Errorf("namespaces left after Close:\n%s", out)
	}
	for _, pid := range []int{p.PID(), stubborn.PID()} {
		if !processGone(pid) {
			t.Errorf("process %d still running after Close", pid)
		}
	}
	if exited, _ := stubborn.Exited(); !exited {
		t.Error("stubborn process not reaped")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left: %v", tmp, err)
	}
	if _, err := os.Stat(l.state); !os.IsNotExist(err) {
		t.Errorf("state file %s left: %v", l.state, err)
	}
}

func TestRunStartDo(t *testing.T) {
	needRoot(t)
	l := up(t, twoNodes())
	a, b := l.Node("a"), l.Node("b")

	out, err := a.Run(t.Context(), "ip", "-o", "addr", "show", "dev", "lo")
	if err != nil || !strings.Contains(string(out), "192.0.2.1/32") {
		t.Errorf("loopback VIP not on lo: %v\n%s", err, out)
	}
	out, err = a.Run(t.Context(), "ip", "-o", "-6", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "2001:db8::1/64") || strings.Contains(string(out), "tentative") {
		t.Errorf("IPv6 address missing or tentative: %v\n%s", err, out)
	}
	if _, err := a.Run(t.Context(), "sh", "-c", "echo boom; exit 3"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failed Run: error %v lacks the output", err)
	}

	// Early exit: Exited reports it and ExitError carries the log tail.
	p, err := a.Start(t.Context(), "crasher", []string{"sh", "-c", "echo dying words >&2; exit 7"}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(t.Context(), 5*time.Second, 10*time.Millisecond, func() (bool, error) {
		ok, _ := p.Exited()
		return ok, nil
	}); err != nil {
		t.Fatal(err)
	}
	if e := p.ExitError(); e == nil || !strings.Contains(e.Error(), "dying words") || !strings.Contains(e.Error(), "exit status 7") {
		t.Errorf("ExitError = %v", e)
	}

	// Cancelling Start's context stops the process.
	ctx, cancel := context.WithCancel(t.Context())
	s, err := a.Start(ctx, "sleeper", []string{"sleep", "1000"}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Error("process not stopped when its context ended")
	}

	// A listener made with Do lives in b; a dials it over the veth.
	ln, err := b.Listen("tcp", "[2001:db8::2]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "hello from b")
		c.Close()
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := a.Dial(t.Context(), "tcp", net.JoinHostPort("2001:db8::2", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "hello from b" {
		t.Errorf("read %q, %v", got, err)
	}
	// The root namespace has no 2001:db8::2: dialing it from here must fail,
	// which proves the listener is not in the root namespace.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond); err == nil {
		c.Close()
		t.Error("listener reachable from the root namespace")
	}
}
