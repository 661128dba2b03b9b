package health

import (
	"fmt"

	"github.com/anydiag/anydiag/internal/finding"
)

// Findings are the findings of the checks' states: health.check_failing for
// a check that is down, health.resource_exhausted for one that could not
// probe because the agent ran out of descriptors or buffers (it reports
// unknown, so no withdrawal follows, but someone must know). Each finding
// is dated from when its check entered that state.
//
// The policy does not read these: it reads the states themselves
// (Runner.States), so a check counts once.
func Findings(states []State) []finding.Finding {
	var fs []finding.Finding
	for _, st := range states {
		switch {
		case st.Last.Exhausted:
			fs = append(fs, finding.New("health.resource_exhausted", "check "+st.Check,
				fmt.Sprintf("health check %s (%s) could not probe: the agent is out of descriptors or buffers: %s", st.Check, st.Type, st.Last.Error),
				map[string]any{"error": st.Last.Error}, st.Since))
		case st.Status == StatusDown:
			fs = append(fs, finding.New("health.check_failing", "check "+st.Check,
				fmt.Sprintf("health check %s (%s) is down: %s", st.Check, st.Type, st.Last.Error),
				map[string]any{"consecutive_failures": st.Failures, "latency_seconds": st.Last.Latency.Seconds()}, st.Since))
		}
	}
	return fs
}
