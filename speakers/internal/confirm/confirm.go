// Package confirm is how every speaker makes sure a change took effect:
// poll the daemon until it shows the change, or say what it still shows.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Poll calls check every interval until it returns nil or ctx ends; without
// a deadline on ctx it gives up after timeout. The error then wraps the last
// thing the daemon answered (not the time-out of the final query) and the
// context's error: "not confirmed: still in advertised-routes of ... (context
// deadline exceeded)".
func Poll(ctx context.Context, interval, timeout time.Duration, check func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if last == nil || !timedOut(ctx, err) {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not confirmed: %w (%w)", last, ctx.Err())
		case <-t.C:
		}
	}
}

// timedOut reports whether err only says that the deadline came.
func timedOut(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}
