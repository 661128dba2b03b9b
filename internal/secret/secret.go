// Package secret reads bearer tokens from files safely. It is a leaf
// package so that the configuration and the servers that use a token can
// both import it.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// MinBytes is the shortest bearer token the agent accepts: shorter
// ones can be guessed by anyone who can reach the API port.
const MinBytes = 16

// maxBytes bounds what is read from a token file.
const maxBytes = 64 << 10

// Read reads a bearer token from path for the setting named what
// (e.g. "exporters.token_file"). It refuses a symlink, a file that is not
// regular, a file readable or writable by group or others, and a token
// shorter than MinBytes after trimming white space; each error says
// how to fix it.
func Read(path, what string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return "", fmt.Errorf("%s %s is a symbolic link: name the file itself", what, path)
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s %s is readable by group or others (mode %04o): chmod 600 %s", what, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > maxBytes {
		return "", fmt.Errorf("%s %s is larger than %d KiB: is this the right file?", what, path, maxBytes>>10)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinBytes {
		return "", fmt.Errorf("%s %s holds %d bytes, fewer than %d: write at least %d random bytes: head -c 32 /dev/urandom | base64 > %s",
			what, path, len(tok), MinBytes, MinBytes, path)
	}
	return tok, nil
}
