// Package labtest holds what every lab test starts with: skip cleanly where
// the lab cannot run, and build a lab that is torn down however the test ends.
package labtest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/anydiag/anydiag/lab"
)

// Need skips the test unless it runs as root with `ip` and the named
// programs (names or paths) installed.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab test needs root (network namespaces)")
	}
	for _, p := range append([]string{"ip"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (see .ci/run for the Debian packages): %v", p, err)
		}
	}
}

// NeedFRR is Need for tests that run FRR's bgpd and vtysh, plus programs.
func NeedFRR(t testing.TB, programs ...string) {
	t.Helper()
	Need(t, append([]string{"/usr/lib/frr/bgpd", "vtysh"}, programs...)...)
}

// Up builds topo and closes the lab in t.Cleanup, reporting a failed close.
func Up(t testing.TB, ctx context.Context, topo *lab.Topology) *lab.Lab {
	t.Helper()
	l, err := lab.Up(ctx, topo, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return l
}
