package lab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitFor polls cond every interval until it reports true, cond's error is
// permanent (wrapped in Permanent), ctx ends or timeout passes. On timeout
// the error names the last error cond returned, so a test failure says why
// the condition never held.
func WaitFor(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("lab: condition not met within %v: %w", timeout, last)
			}
			return fmt.Errorf("lab: condition not met within %v: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that WaitFor stops polling at once and returns it:
// for conditions that can no longer become true (the daemon exited).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}
