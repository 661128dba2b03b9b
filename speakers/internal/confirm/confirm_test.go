package confirm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPollSucceedsOnceTheDaemonShowsTheChange(t *testing.T) {
	n := 0
	err := Poll(context.Background(), time.Millisecond, time.Second, func(context.Context) error {
		if n++; n < 3 {
			return errors.New("still present")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d checks", err, n)
	}
}

func TestPollKeepsTheLastRealAnswer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Poll(ctx, time.Millisecond, time.Second, func(context.Context) error {
		n++
		if n == 2 {
			cancel()
			return context.Canceled
		}
		return errors.New("still in advertised-routes of 198.51.100.1")
	})
	if err == nil || !strings.Contains(err.Error(), "not confirmed: still in advertised-routes of 198.51.100.1") || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
