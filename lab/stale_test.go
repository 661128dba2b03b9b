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
func TestStaleChild(t *testing.T) {
	if os.Getenv(staleChildEnv) != "1" {
		t.Skip("helper process for TestCleanupStaleAfterSIGKILL")
	}
	l, err := Up(context.Background(), twoNodes(), Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
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

func TestCleanupStaleAfterSIGKILL(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStaleChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), staleChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var id, tmp string
	var sleeper int
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "ERROR" {
			t.Fatalf("child: %s", sc.Text())
		}
		if len(f) == 4 && f[0] == "READY" {
			id, tmp = f[1], f[3]
			sleeper, _ = strconv.Atoi(f[2])
			break
		}
	}
	if id == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child never reported its lab: %v", sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	listed := func() string {
		out, err := exec.Command("ip", "netns", "list").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns list: %v: %s", err, out)
		}
		return string(out)
	}
	if !strings.Contains(listed(), id+"-a") || !strings.Contains(listed(), id+"-b") {
		t.Fatalf("the killed child's namespaces are not there to clean up:\n%s", listed())
	}
	if processGone(sleeper) {
		t.Fatalf("the killed child's sleeper %d is already gone", sleeper)
	}

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
			t.Errorf("CleanupStale did not report %s (removed %v)", ns, removed)
		}
	}
	if l := listed(); strings.Contains(l, id+"-") {
		t.Errorf("namespaces of the killed child left:\n%s", l)
	}
	if !processGone(sleeper) {
		t.Errorf("process %d from the killed child's lab still running", sleeper)
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
