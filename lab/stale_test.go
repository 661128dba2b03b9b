package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const staleChildEnv = "ANYDIAG_LAB_STALE_CHILD"

// TestStaleChild is not a test on its own: TestCleanupStaleAfterSIGKILL
// re-executes the test binary to run it as the lab's owner, then kills it.
// With the variable set to "signal" the lab is closed on SIGTERM by
// CloseOnSignal (TestCloseOnSignal).
func TestStaleChild(t *testing.T) {
	mode := os.Getenv(staleChildEnv)
	if mode == "" {
		t.Skip("helper process for TestCleanupStaleAfterSIGKILL and TestCloseOnSignal")
	}
	l, err := Up(context.Background(), twoNodes(), Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if mode == "signal" {
		l.CloseOnSignal()
	}
	p, err := l.Node("b").Start(context.Background(), "sleeper", []string{"sleep", "1000"}, StartOptions{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	// Report only once ip netns exec has moved the sleeper into b, so the
	// parent kills a lab whose process is really inside it.
	if err := WaitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() (bool, error) {
		pids, err := PIDsIn(l.Node("b").Namespace())
		return slices.Contains(pids, p.PID()), err
	}); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("READY %s %d %s\n", l.ID(), p.PID(), l.TempDir())
	select {}
}

// startChild runs TestStaleChild in a new process and returns it once its
// lab is up, with the lab ID, the sleeper's PID and the temp dir.
func startChild(t *testing.T, mode string) (cmd *exec.Cmd, id string, sleeper int, tmp string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStaleChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), staleChildEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "ERROR" {
			t.Fatalf("child: %s", sc.Text())
		}
		if len(f) == 4 && f[0] == "READY" {
			sleeper, _ = strconv.Atoi(f[2])
			return cmd, f[1], sleeper, f[3]
		}
	}
	t.Fatalf("child never reported its lab: %v", sc.Err())
	return nil, "", 0, ""
}

// listNetns is `ip netns list`.
func listNetns(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestCleanupStaleAfterSIGKILL(t *testing.T) {
	needRoot(t)
	cmd, id, sleeper, tmp := startChild(t, "kill")
	if !strings.Contains(listNetns(t), id+"-a") || !strings.Contains(listNetns(t), id+"-b") {
		t.Fatalf("the child's namespaces are missing:\n%s", listNetns(t))
	}
	if processGone(sleeper) {
		t.Fatalf("the child's sleeper %d is not running", sleeper)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	removed, err := CleanupStale()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{id + "-a": false, id + "-b": false}
	for _, ns := range removed {
		if _, ok := want[ns]; ok {
			want[ns] = true
		}
	}
	for ns, ok := range want {
		if !ok {
			// Another test binary's Up may have cleaned it first; what
			// matters is that it is gone, checked below.
			t.Logf("CleanupStale did not report %s (removed %v)", ns, removed)
		}
	}
	if l := listNetns(t); strings.Contains(l, id+"-") {
		t.Errorf("namespaces of the killed child left:\n%s", l)
	}
	if !processGone(sleeper) {
		t.Errorf("process %d from the killed child's lab still running", sleeper)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left: %v", tmp, err)
	}
}

func TestCloseOnSignal(t *testing.T) {
	needRoot(t)
	cmd, id, sleeper, tmp := startChild(t, "signal")
	if !strings.Contains(listNetns(t), id+"-a") {
		t.Fatalf("the child's namespaces are missing:\n%s", listNetns(t))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGTERM {
		t.Errorf("child did not end by its SIGTERM: %v", err)
	}
	// No CleanupStale here: the child's own handler must have cleaned up.
	if l := listNetns(t); strings.Contains(l, id+"-") {
		t.Errorf("namespaces left by the signalled child:\n%s", l)
	}
	if !processGone(sleeper) {
		t.Errorf("sleeper %d still running", sleeper)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left: %v", tmp, err)
	}
}

func TestCleanupStaleSparesLiveLabs(t *testing.T) {
	needRoot(t)
	l := up(t, twoNodes())
	if _, err := CleanupStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + l.Node("a").Namespace()); err != nil {
		t.Errorf("CleanupStale removed a live lab's namespace: %v", err)
	}
}

func TestOwnerAliveRejectsReusedPID(t *testing.T) {
	_, ticks, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pid   int
		ticks uint64
		want  bool
	}{
		{"self, matching start", os.Getpid(), ticks, true},
		{"self, no state file", os.Getpid(), 0, true},
		{"self, other start time (PID reused)", os.Getpid(), ticks + 1, false},
		{"no such process", 1 << 30, 0, false},
	}
	for _, tc := range tests {
		if got := ownerAlive(tc.pid, tc.ticks); got != tc.want {
			t.Errorf("%s: ownerAlive = %v, want %v", tc.name, got, tc.want)
		}
	}
}
