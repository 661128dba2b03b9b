// Package nstest creates throwaway network namespaces for lab tests. Every
// namespace is named "adhost<pid>-<suffix>" so that leftovers of a crashed
// run are recognised by their dead pid and removed by the next run.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/anydiag/anydiag/collectors/host/netns"
)

const prefix = "adhost"

// New creates namespace adhost<pid>-suffix with lo up, removes it in
// t.Cleanup, and returns its name. It skips the test when not root.
func New(t testing.TB, suffix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab test: needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab test: needs iproute2's ip")
	}
	removeStale(t)
	name := fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), suffix)
	IP(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	IP(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// IP runs ip(8) with args and fails the test on error.
func IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Sysctl sets key=value inside namespace ns.
func Sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	IP(t, "netns", "exec", ns, "sysctl", "-qw", key+"="+value)
}

// Do runs fn inside namespace ns and fails the test on error.
func Do(t testing.TB, ns string, fn func() error) {
	t.Helper()
	if err := netns.Do(netns.Path(ns), fn); err != nil {
		t.Fatal(err)
	}
}

// removeStale deletes adhost<pid>-* namespaces whose pid is dead.
func removeStale(t testing.TB) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("removing stale namespace %s: %v: %s", e.Name(), err, out)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
