package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/lab"
)

// TestDemo plays every scenario of `make demo` against the real lab: FRR
// upstreams, agents with the embedded speaker, the BMP collector. Each
// scenario checks its outcome on FRR itself, so this is the end-to-end test.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the demo builds network namespaces: run the tests as root")
	}
	for _, bin := range []string{"/usr/lib/frr/bgpd", "/usr/bin/vtysh"} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s missing: install the Debian package frr", bin)
		}
	}
	exe := filepath.Join(t.TempDir(), "anydiag")
	build := exec.Command("go", "build", "-o", exe, "../../cmd/anydiag")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := Run(ctx, Options{Out: &out, Binary: exe})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"All scenarios ended as expected", "refused", "optics.rx_power_low"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("narration lacks %q", want)
		}
	}
	// Every goroutine the demo started (collector, its API, the PoPs'
	// services) was waited for: none is left in this package (polled, as
	// one may still be returning from its deferred Done).
	var stacks string
	err = lab.WaitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() (bool, error) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "anydiag/internal/demo.(*run)"), nil
	})
	if err != nil {
		t.Errorf("demo goroutines outlive Run: %v\n%s", err, stacks)
	}
	nss, err := lab.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if pid, _, _, ok := lab.ParseNamespace(ns); ok && pid == os.Getpid() {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}
