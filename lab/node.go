package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func (n *Node) live() error {
	if n == nil {
		return errors.New("lab: nil node (unknown node name?)")
	}
	if n.lab == nil {
		return fmt.Errorf("lab: node %s is a description, not a running node: use (*Lab).Node", n.Name)
	}
	return nil
}

// Run runs argv inside the node and returns its combined output; on failure
// the error holds the output too.
func (n *Node) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if err := n.live(); err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, errors.New("lab: run: empty command")
	}
	out, err := runCmd(ctx, "", "ip", append([]string{"netns", "exec", n.ns}, argv...)...)
	if err != nil {
		return out, fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	return out, nil
}

// StartOptions tune Start.
type StartOptions struct {
	// Env is added to the lab process's environment.
	Env []string
	// Dir is the working directory; empty means the lab's temporary directory.
	Dir string
	// StopTimeout bounds the wait between SIGTERM and SIGKILL; 0 means 5s.
	StopTimeout time.Duration
}

// Process is a long-running program started in a node.
type Process struct {
	name    string
	node    *Node
	cmd     *exec.Cmd
	logPath string
	stopTO  time.Duration

	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start runs argv inside the node in its own process group, stdout and
// stderr going to TempDir()/<node>-<name>.log. The process is stopped by
// Stop, by Close, or when ctx ends.
func (n *Node) Start(ctx context.Context, name string, argv []string, opts StartOptions) (*Process, error) {
	if err := n.live(); err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("lab: node %s: start %s: empty command", n.Name, name)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lab: node %s: start %s: %w", n.Name, name, err)
	}
	f, err := os.CreateTemp(n.lab.tmp, n.Name+"-"+safeName(name)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("lab: node %s: start %s: %w", n.Name, name, err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = n.lab.tmp
	if opts.Dir != "" {
		cmd.Dir = opts.Dir
	}
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{name: name, node: n, cmd: cmd, logPath: f.Name(), stopTO: opts.StopTimeout, done: make(chan struct{})}
	if p.stopTO <= 0 {
		p.stopTO = stopTimeout
	}
	if err := n.lab.addProcess(p); err != nil {
		return nil, fmt.Errorf("lab: node %s: start %s: %w", n.Name, name, err)
	}
	if err := cmd.Start(); err != nil {
		close(p.done)
		p.waitErr = err
		return nil, fmt.Errorf("lab: node %s: start %s: %w", n.Name, name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				p.Stop()
			case <-p.done:
			}
		}()
	}
	n.lab.log.Debug("lab: started", "node", n.Name, "name", name, "pid", cmd.Process.Pid, "log", p.logPath)
	return p, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '*' {
			return '_'
		}
		return r
	}, s)
}

// PID is the process ID (ip netns exec replaces itself with the program,
// so it is the program's own PID and process group).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Name is the name given to Start.
func (p *Process) Name() string { return p.name }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and, if so, how (the error
// of exec.Cmd.Wait; nil for exit status 0).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// LogPath is the file holding the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns the last lines of the process's log (at most 4 KiB).
func (p *Process) LogTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxTail = 4096
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, st.Size()-maxTail)
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	s := string(buf[:n])
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}

// ExitError describes an early exit for error messages: the wait status and
// the log's tail.
func (p *Process) ExitError() error {
	ok, err := p.Exited()
	if !ok {
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("node %s: %s (pid %d) exited: %w; log %s:\n%s", p.node.Name, p.name, p.PID(), err, p.logPath, p.LogTail())
}

// Stop sends SIGTERM to the process group, SIGKILL after the stop timeout,
// and waits until the process is reaped. It is safe to call more than once.
// Processes the program forked into other groups are killed by Close with
// the namespace.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		pgid := p.cmd.Process.Pid
		// Only our Wait goroutine reaps the leader; the window between the
		// check above and the kill is far too short for its PID (the group
		// ID) to be reused.
		syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(p.stopTO)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Do runs f on an OS thread switched into the node's network namespace, so
// that sockets f creates live there (they stay there after Do returns).
// Goroutines f starts run on other threads, outside the namespace. If the
// thread cannot be switched back, it is left locked so that the Go runtime
// discards it instead of reusing it in the wrong namespace.
func (n *Node) Do(f func() error) error {
	if err := n.live(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: node %s: current netns: %w", n.Name, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join(netnsDir, n.ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: node %s: open netns: %w", n.Name, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: node %s: setns: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("lab: node %s: restoring netns (thread discarded): %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen is net.Listen inside the node.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket is net.ListenPacket inside the node.
func (n *Node) ListenPacket(network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial is net.Dialer.DialContext from inside the node; addr must hold IP
// literals, since name resolution would run outside the namespace.
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
