package netns_test

import (
	"os"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/collectors/host/netns"
	"github.com/anydiag/anydiag/collectors/host/nstest"
)

// TestDoSeesNamespace verifies the claims of Do's doc comment on a real
// kernel: /proc/sys/net and /proc/thread-self/net follow the thread's
// namespace.
func TestDoSeesNamespace(t *testing.T) {
	ns := nstest.New(t, "ns")
	const key = "/proc/sys/net/ipv4/fib_multipath_hash_policy"
	rootVal := readTrim(t, key)
	want := "1"
	if rootVal == "1" {
		want = "0"
	}
	nstest.Sysctl(t, ns, "net.ipv4.fib_multipath_hash_policy", want)
	nstest.IP(t, "-n", ns, "link", "add", "adv0", "type", "veth", "peer", "name", "adv1")
	// t.Fatal must not run on Do's goroutine: read there, judge here.
	var sysctl, threadDev []byte
	nstest.Do(t, ns, func() (err error) {
		if sysctl, err = os.ReadFile(key); err != nil {
			return err
		}
		threadDev, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	})
	if got := strings.TrimSpace(string(sysctl)); got != want {
		t.Errorf("%s inside the namespace = %q, want %q", key, got, want)
	}
	if !strings.Contains(string(threadDev), "adv0") {
		t.Errorf("/proc/thread-self/net/dev lacks the namespace's veth:\n%s", threadDev)
	}
	if got := readTrim(t, key); got != rootVal {
		t.Errorf("after Do, %s = %q, want the root namespace's %q", key, got, rootVal)
	}
}

func TestDoMissingNamespace(t *testing.T) {
	err := netns.Do("/run/netns/adhost-does-not-exist", func() error { return nil })
	if err == nil {
		t.Fatal("want an error for a missing namespace")
	}
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
