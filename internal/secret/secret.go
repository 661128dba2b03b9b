package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// MinSecretBytes is the shortest bearer token the agent accepts: shorter
// ones can be guessed by anyone who can reach the API port.
const MinSecretBytes = 16

// maxSecretBytes bounds what is read from a token file.
const maxSecretBytes = 64 << 10

// ReadSecret reads a bearer token from path for the setting named what
// (e.g. "exporters.token_file"). It refuses a symlink, a file that is not
// regular, a file readable or writable by group or others, and a token
// shorter than MinSecretBytes after trimming white space; each error says
// how to fix it.
func ReadSecret(path, what string) (string, error) {
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
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > maxSecretBytes {
		return "", fmt.Errorf("%s %s is larger than %d KiB: is this the right file?", what, path, maxSecretBytes>>10)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinSecretBytes {
		return "", fmt.Errorf("%s %s holds %d bytes, fewer than %d: write at least %d random bytes: head -c 32 /dev/urandom | base64 > %s",
			what, path, len(tok), MinSecretBytes, MinSecretBytes, path)
	}
	return tok, nil
}
