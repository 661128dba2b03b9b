package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// safeDir returns a temporary directory only the owner may write.
func safeDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o750); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenAppendAndWriteAtomicRefuseUnsafePaths(t *testing.T) {
	dir := safeDir(t)
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "wide")
	if err := os.MkdirAll(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"symlink", link, "symbolic link"},
		{"fifo", fifo, "no such device"}, // O_NONBLOCK write-open of a FIFO without reader: ENXIO, never a block
		{"directory", dir, "not a regular file"},
		{"world-writable directory", filepath.Join(open, "audit.log"), "writable by group or others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenAppend(tt.path)
			if err == nil {
				f.Close()
				t.Fatalf("OpenAppend(%s) accepted", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want) && !strings.Contains(err.Error(), "is a directory") {
				t.Fatalf("OpenAppend error %q, want %q", err, tt.want)
			}
		})
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("victim changed: %q", b)
	}
	if _, err := ReadFile(link, 1<<10); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("ReadFile through a symlink: %v", err)
	}
	if err := WriteAtomic(filepath.Join(open, "state.json"), []byte("{}")); err == nil {
		t.Fatal("WriteAtomic into a world-writable directory accepted")
	}
	if err := WriteAtomic(fifo, []byte("{}")); err == nil {
		t.Fatal("WriteAtomic over a FIFO accepted")
	}
}

func TestWriteAtomicReplacesSymlinkNotTarget(t *testing.T) {
	dir := safeDir(t)
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "state.json")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(link, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("victim changed: %q", b)
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != Mode {
		t.Fatalf("state file %v %v, want a regular file with mode %v", fi, err, os.FileMode(Mode))
	}
	b, err := ReadFile(link, 1<<10)
	if err != nil || string(b) != `{"v":1}` {
		t.Fatalf("read back %q %v", b, err)
	}
	if _, err := ReadFile(link, 3); err == nil {
		t.Fatal("ReadFile above the limit accepted")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestOpenAppendAppends(t *testing.T) {
	p := filepath.Join(safeDir(t), "audit.log")
	for _, line := range []string{"a\n", "b\n"} {
		f, err := OpenAppend(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if b, _ := os.ReadFile(p); string(b) != "a\nb\n" {
		t.Fatalf("content %q", b)
	}
}
