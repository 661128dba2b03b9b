// Package netns runs a function inside another network namespace, so that
// collectors which open sockets and /proc/sys/net files read that namespace.
package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Path returns the bind-mount path `ip netns add NAME` creates.
func Path(name string) string { return filepath.Join("/run/netns", name) }

// Do runs fn on a locked OS thread that has joined the network namespace at
// path. Sockets fn opens, and /proc/sys/net and /proc/thread-self/net files
// it opens, belong to that namespace; /sys/class/net does not (sysfs shows
// the namespace it was mounted in), nor reliably does /proc/self/net (it
// follows the process's main thread, which may or may not be this one). The thread returns to its namespace afterwards; if it cannot,
// it is left locked so the runtime discards it instead of reusing it.
func Do(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine keeps the caller's own thread untouched even when
	// the switch back fails and this thread has to die.
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: setns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: back from %s: %w", path, err)
			return // still locked: the thread exits with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
