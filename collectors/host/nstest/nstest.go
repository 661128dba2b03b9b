// Package nstest creates throwaway network namespaces for lab tests. Every
// namespace is named "adhost<pid>-<suffix>" so that leftovers of a crashed
// run are recognised by their dead pid and removed by the next run.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Start runs argv inside namespace ns in its own process group, logs its
// output into the test log on failure, and kills it by pid in t.Cleanup.
func Start(t testing.TB, ns string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(argv, " "), err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", argv[0], out.String())
		}
	})
	return cmd
}

// GoBGP starts gobgpd inside ns with a minimal config (AS 65001, listening
// on TCP 179 of the namespace) and returns its pid.
func GoBGP(t testing.TB, ns string) int {
	t.Helper()
	return GoBGPPort(t, ns, 179)
}

// GoBGPPort is GoBGP listening on port instead of 179.
func GoBGPPort(t testing.TB, ns string, port int) int {
	t.Helper()
	if _, err := exec.LookPath("gobgpd"); err != nil {
		t.Skip("lab test: needs gobgpd (Debian package gobgpd)")
	}
	conf := filepath.Join(t.TempDir(), "gobgpd.toml")
	body := fmt.Sprintf("[global.config]\n  as = 65001\n  router-id = \"192.0.2.1\"\n  port = %d\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := Start(t, ns, "gobgpd", "-f", conf, "-p", "--pprof-disable", "--api-hosts", "127.0.0.1:50051")
	return cmd.Process.Pid
}
