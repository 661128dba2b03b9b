package health

import "time"

// Status is a check's state after hysteresis.
type Status string

// Statuses. A check is Unknown until it has seen rise successes or fall
// failures in a row.
const (
	StatusUnknown Status = "unknown"
	StatusUp      Status = "up"
	StatusDown    Status = "down"
)

// Machine is the rise/fall state machine of one check. It is pure: feed it
// results with Observe; it never reads a clock.
type Machine struct {
	Rise, Fall int

	status    Status
	successes int
	failures  int
}

// NewMachine returns a machine in StatusUnknown; rise and fall below 1 count as 1.
func NewMachine(rise, fall int) *Machine {
	return &Machine{Rise: max(rise, 1), Fall: max(fall, 1), status: StatusUnknown}
}

// Status returns the current state.
func (m *Machine) Status() Status { return m.status }

// Streak returns the consecutive successes and failures ending at the last
// result (one of them is zero).
func (m *Machine) Streak() (successes, failures int) { return m.successes, m.failures }

// Observe feeds one result and reports whether the status changed.
func (m *Machine) Observe(ok bool) bool {
	prev := m.status
	if ok {
		m.successes++
		m.failures = 0
		if m.successes >= m.Rise {
			m.status = StatusUp
		}
	} else {
		m.failures++
		m.successes = 0
		if m.failures >= m.Fall {
			m.status = StatusDown
		}
	}
	return m.status != prev
}

// Result is the outcome of one probe.
type Result struct {
	Check   string        `json:"check"`
	OK      bool          `json:"ok"`
	Error   string        `json:"error,omitempty"`
	Latency time.Duration `json:"latency_ns"`
	At      time.Time     `json:"at"`
	// Exhausted marks a probe that failed because this process ran out of
	// descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM): it counts
	// as neither success nor failure, and the check reports unknown.
	Exhausted bool `json:"resource_exhausted,omitempty"`
}

// State is a check's state as the runner reports it.
type State struct {
	Check     string    `json:"check"`
	Type      string    `json:"type"`
	Status    Status    `json:"status"`
	Since     time.Time `json:"since"`
	Successes int       `json:"consecutive_successes"`
	Failures  int       `json:"consecutive_failures"`
	Last      Result    `json:"last"`
}
