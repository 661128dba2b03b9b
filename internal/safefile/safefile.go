// Package safefile opens and writes the files the agent keeps as root (the
// policy audit log, its state file, the drain file) without letting anyone
// who can write to their directory redirect the write: no symlink is
// followed, only regular files are touched, and a directory that group or
// others may write to is refused, since whoever can write there can replace
// the file between two calls.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Mode is the permission of the files this package creates: owner read and
// write, group read (an operator group may tail the audit log).
const Mode = 0o640

// CheckDir refuses a directory that group or others may write to.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("safefile: directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("safefile: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("safefile: directory %s is writable by group or others (mode %v): anyone there could swap the file; use a directory only the agent writes (chmod go-w %s)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// OpenAppend opens path for appending, creating it with Mode, refusing
// symlinks, non-regular files and unsafe directories.
func OpenAppend(path string) (*os.File, error) {
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, Mode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("safefile: %s is a symbolic link; refusing to follow it", path)
		}
		return nil, fmt.Errorf("safefile: opening %s: %w", path, err)
	}
	if err := regular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// regular checks that the opened file is a regular file; O_NONBLOCK at open
// keeps a FIFO planted at the path from blocking the open itself.
func regular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("safefile: %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("safefile: %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	return nil
}

// ReadFile reads path without following a symlink and only if it is a
// regular file of at most limit bytes; a missing file is os.ErrNotExist.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("safefile: %s is a symbolic link; refusing to follow it", path)
		}
		return nil, fmt.Errorf("safefile: %w", err)
	}
	defer f.Close()
	if err := regular(f, path); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("safefile: reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("safefile: %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// WriteAtomic replaces path with data: a temporary file in the same
// directory is written, synced and renamed over path, so a reader (or a
// crash) sees the old or the new content, never a mix. rename replaces a
// symlink at path rather than writing through it; a non-regular file at
// path is refused.
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := CheckDir(dir); err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && fi.Mode().Type() != os.ModeSymlink {
		return fmt.Errorf("safefile: %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safefile: %w", err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("safefile: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(Mode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("safefile: writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("safefile: renaming into %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
