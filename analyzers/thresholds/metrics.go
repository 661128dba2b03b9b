package thresholds

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/anydiag/anydiag/exporters/prometheus"
	"github.com/anydiag/anydiag/internal/finding"
)

func init() {
	prometheus.Describe("anydiag_host_prerequisite_ok", prometheus.Gauge, "1 if every host prerequisite holds, 0 if a host finding is active.")
}

// PrerequisiteMetrics is the verdict of one Prerequisites run as a metric
// set: anydiag_host_prerequisite_ok is 1 when it found nothing, 0 when it
// minted any finding. It is a metric of the judgement, not of the facts, so
// it lives here beside the checks rather than in collectors/host.
func PrerequisiteMetrics(fs []finding.Finding) *metrics.Set {
	set := metrics.NewSet()
	ok := 1.0
	if len(fs) > 0 {
		ok = 0
	}
	set.NewGauge("anydiag_host_prerequisite_ok", nil).Set(ok)
	return set
}
