package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/lab"
)

func TestLabUpExecDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lab commands need root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab commands need the ip command (iproute2)")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	codes := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"lab", "up", "--json", "../../examples/lab/chain.yaml"}, pw, io.Discard)
		pw.Close()
		codes <- code
	}()
	var info lab.Info
	if err := json.NewDecoder(pr).Decode(&info); err != nil {
		cancel()
		t.Fatalf("lab up --json: %v (exit %d)", err, <-codes)
	}
	go io.Copy(io.Discard, pr)
	if len(info.Nodes) != 4 || info.Nodes[0].Namespace != info.ID+"-client" || len(info.Links) != 3 || info.Links[1].MTU != 1400 {
		t.Errorf("lab up --json printed %+v", info)
	}

	code, out, errs := runCLI(t, "lab", "exec", "--lab", info.ID, "client", "--", "ip", "-o", "addr", "show", "dev", "eth0")
	if code != exitOK || !strings.Contains(out, "198.51.100.2/26") {
		t.Errorf("lab exec: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "lab", "exec", "--lab", info.ID, "nosuchnode", "--", "true"); code != exitUsage {
		t.Errorf("lab exec on an unknown node: exit %d, want %d: %s", code, exitUsage, errs)
	}
	if code, _, _ := runCLI(t, "lab", "exec", "--lab", info.ID, "client", "--", "false"); code != exitRuntime {
		t.Errorf("lab exec of a failing command: exit %d, want %d", code, exitRuntime)
	}
	// The owner is alive: down without --all leaves the lab alone.
	if code, out, _ := runCLI(t, "lab", "down", "--json"); code != exitOK || strings.Contains(out, info.ID) {
		t.Errorf("lab down removed a live lab: exit %d: %s", code, out)
	}

	cancel()
	if code := <-codes; code != exitOK {
		t.Errorf("lab up: exit %d after its context ended", code)
	}
	nss, err := lab.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if strings.HasPrefix(ns, info.ID+"-") {
			t.Errorf("namespace %s left after lab up ended", ns)
		}
	}
}

func TestLabUpBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("nodes:\n  - name: a\n    colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "lab", "up", bad)
	if code != exitUsage || !strings.Contains(errs, "line 3") {
		t.Errorf("lab up with an unknown key: exit %d, stderr %q; want exit %d naming line 3", code, errs, exitUsage)
	}
}
