package optics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNetns runs f on a locked OS thread moved into the named namespace; the
// thread is never unlocked, so the runtime discards it when f returns
// instead of reusing a thread in the wrong namespace.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadInterfaceVeth asks the real kernel for a veth's module EEPROM:
// veth has no module, and the error must say so plainly.
func TestReadInterfaceVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and read module EEPROM (CAP_NET_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	ns := fmt.Sprintf("adopt%d", os.Getpid())
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip(t, "-n", ns, "link", "add", ns+"a", "type", "veth", "peer", "name", ns+"b")
	ip(t, "-n", ns, "link", "set", ns+"a", "up")

	tests := []struct {
		name, ifname string
		check        func(t *testing.T, err error)
	}{
		{"veth answers not supported", ns + "a", func(t *testing.T, err error) {
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "not supported") {
				t.Errorf("error %v, want ErrNotSupported saying \"not supported\"", err)
			}
		}},
		{"missing interface", ns + "x", func(t *testing.T, err error) {
			if errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "no such interface") {
				t.Errorf("error %v, want \"no such interface\"", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			inNetns(t, ns, func() { _, _, err = ReadInterface(context.Background(), tc.ifname) })
			if err == nil {
				t.Fatal("read succeeded on an interface without a module")
			}
			t.Logf("%v", err)
			tc.check(t, err)
		})
	}

	// The two paths separately, so a kernel answering on one but not the
	// other is noticed.
	inNetns(t, ns, func() {
		_, nlErr := readNetlink(context.Background(), ns+"a")
		_, ioErr := readIoctl(ns + "a")
		for name, err := range map[string]error{"netlink": nlErr, "ioctl": ioErr} {
			if !errors.Is(err, ErrNotSupported) {
				t.Errorf("%s: error %v, want ErrNotSupported", name, err)
			}
		}
	})
}
