package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRead(t *testing.T) {
	good := writeSecret(t, "0123456789abcdef0123\n", 0o600)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"ok", good, ""},
		{"group readable", writeSecret(t, "0123456789abcdef0123", 0o640), "chmod 600"},
		{"world readable", writeSecret(t, "0123456789abcdef0123", 0o604), "chmod 600"},
		{"short", writeSecret(t, "s3cret\n", 0o600), "head -c 32 /dev/urandom | base64 >"},
		{"empty", writeSecret(t, "  \n", 0o600), "fewer than 16"},
		{"symlink", link, "symbolic link"},
		{"directory", t.TempDir(), "not a regular file"},
		{"missing", filepath.Join(t.TempDir(), "nope"), "no such file"},
	}
	for _, c := range cases {
		tok, err := Read(c.path, "exporters.token_file")
		switch {
		case c.want == "" && (err != nil || tok != "0123456789abcdef0123"):
			t.Errorf("%s: got %q, %v", c.name, tok, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %q, %v; want an error containing %q", c.name, tok, err, c.want)
		case c.want != "" && !strings.Contains(err.Error(), "exporters.token_file"):
			t.Errorf("%s: error does not name the setting: %v", c.name, err)
		}
	}
}
