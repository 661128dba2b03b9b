package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anydiag/anydiag/internal/finding"
)

// Task is one collector with its analyzers: read a signal, publish its
// values as metrics, and return the findings they imply.
type Task struct {
	Name     string
	Interval time.Duration
	// Timeout bounds one run; a run past it is reported as hung and the
	// next run waits until it returns, so a hung collector never piles up.
	Timeout time.Duration
	Run     func(ctx context.Context) ([]finding.Finding, error)
}

// TaskStatus is what /api/v1/status shows of a task.
type TaskStatus struct {
	Name         string        `json:"name"`
	Interval     string        `json:"interval"`
	LastRun      time.Time     `json:"last_run"`
	LastDuration time.Duration `json:"last_duration_ns"`
	LastError    string        `json:"last_error,omitempty"`
	Runs         uint64        `json:"runs"`
	Failures     uint64        `json:"failures"`
	Running      bool          `json:"running"`
}

// scheduler runs tasks on their intervals, each in its own goroutine, so
// one failing or hanging task never stops the others.
type scheduler struct {
	now     func() time.Time
	log     *slog.Logger
	onCycle func(task string, fs []finding.Finding, err error, took time.Duration)

	// inflight marks, by task name, a run still in progress. It outlives
	// the scheduler: a run abandoned when a reload replaces the scheduler
	// must not overlap with the next scheduler's run of the same task.
	inflight *sync.Map

	mu     sync.Mutex
	status map[string]*TaskStatus
}

func newScheduler(now func() time.Time, log *slog.Logger, inflight *sync.Map, onCycle func(string, []finding.Finding, error, time.Duration)) *scheduler {
	return &scheduler{now: now, log: log, onCycle: onCycle, inflight: inflight, status: map[string]*TaskStatus{}}
}

// run blocks until ctx ends, running every task; it returns once every
// task goroutine it started and every run in flight has returned or been
// abandoned. The scheduler outlives reloads: a task kept by a reload (or
// any task, when the reload is rejected) keeps its counters.
func (s *scheduler) run(ctx context.Context, tasks []Task) {
	s.mu.Lock()
	live := map[string]bool{}
	for _, t := range tasks {
		live[t.Name] = true
		if st, ok := s.status[t.Name]; ok {
			st.Interval = t.Interval.String()
		} else {
			s.status[t.Name] = &TaskStatus{Name: t.Name, Interval: t.Interval.String()}
		}
	}
	for name := range s.status {
		if !live[name] {
			delete(s.status, name)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, t)
		}()
	}
	wg.Wait()
}

func (s *scheduler) loop(ctx context.Context, t Task) {
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		s.once(ctx, t)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// errHung is reported for a run that outlives its timeout.
var errHung = errors.New("did not return within its timeout")

// once runs t a single time with its timeout. A run that ignores its
// context is abandoned: it is reported hung and its result discarded, and
// the next run waits until it returns.
func (s *scheduler) once(ctx context.Context, t Task) {
	v, _ := s.inflight.LoadOrStore(t.Name, new(atomic.Bool))
	busy := v.(*atomic.Bool)
	if !busy.CompareAndSwap(false, true) {
		s.report(t, nil, fmt.Errorf("previous run still in progress: %w", errHung), 0)
		return
	}
	s.mu.Lock()
	st := s.status[t.Name]
	st.Running = true
	s.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, t.Timeout)
	type result struct {
		fs  []finding.Finding
		err error
	}
	done := make(chan result, 1)
	start := s.now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
			}
			s.mu.Lock()
			st.Running = false
			s.mu.Unlock()
			busy.Store(false)
		}()
		fs, err := t.Run(rctx)
		done <- result{fs, err}
	}()
	defer cancel()
	select {
	case r := <-done:
		s.report(t, r.fs, r.err, s.now().Sub(start))
	case <-rctx.Done():
		// Give a context-respecting task the chance to return its error.
		select {
		case r := <-done:
			s.report(t, r.fs, r.err, s.now().Sub(start))
		default:
			s.report(t, nil, errHung, s.now().Sub(start))
		}
	}
}

func (s *scheduler) report(t Task, fs []finding.Finding, err error, took time.Duration) {
	s.mu.Lock()
	st := s.status[t.Name]
	st.Runs++
	st.LastRun = s.now()
	st.LastDuration = took
	st.LastError = ""
	if err != nil {
		st.Failures++
		st.LastError = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("collector failed", "collector", t.Name, "err", err)
	}
	s.onCycle(t.Name, fs, err, took)
}

// snapshot returns every task's status.
func (s *scheduler) snapshot() []TaskStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TaskStatus, 0, len(s.status))
	for _, st := range s.status {
		out = append(out, *st)
	}
	return out
}
