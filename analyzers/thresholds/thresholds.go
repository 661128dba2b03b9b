// Package thresholds turns the values of the host collectors (thermal, link,
// host prerequisites, optics) into findings: readings past the hardware's
// own limits or the operator's, counters rising between two samples, trends
// over a window, and missing prerequisites with the command that fixes them.
package thresholds

import (
	"time"
)

// Range is an inclusive [Min, Max] interval.
type Range struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Limits are the operator's thresholds. DefaultLimits fills them; a zero
// field disables the check it names unless documented otherwise.
type Limits struct {
	// NearCritMarginCelsius: a sensor within this margin of its critical
	// temperature is near critical.
	NearCritMarginCelsius float64
	// MinFreqRatio flags CPUs whose current frequency is below this share
	// of the maximum. Off by default: idle CPUs clock down by design.
	MinFreqRatio float64
	// FlapCarrierChanges is the rise of carrier_changes between samples that
	// counts as flapping (2 is one down-up cycle).
	FlapCarrierChanges uint32
	// ErrorsPerSecond is the error rate (rx/tx errors, CRC, frame, FIFO,
	// missed) above which a link is reported; 0 reports any rise.
	ErrorsPerSecond float64
	// DropsPerSecond is the drop rate above which a link is reported; drops
	// also count frames for unknown protocols, hence a non-zero default.
	DropsPerSecond float64
	// MinKernelMajor and MinKernelMinor are the oldest kernel supported well.
	MinKernelMajor, MinKernelMinor int
	// MinSocketBufferBytes is the least net.core.rmem_max and wmem_max.
	MinSocketBufferBytes int64
	// RxPowerDBm is the operator's acceptable receive range, besides the
	// module's own thresholds; nil disables it.
	RxPowerDBm *Range
	// RxFallingDBPerDay is the receive-power decline, fitted over
	// RxTrendWindow, that is reported; the fit needs RxTrendMinSamples
	// samples spanning at least half the window.
	RxFallingDBPerDay float64
	RxTrendWindow     time.Duration
	RxTrendMinSamples int
	// OpticsTempMaxCelsius is used for modules that publish no thresholds
	// (commercial-grade optics are rated to 70 °C).
	OpticsTempMaxCelsius float64
}

// DefaultLimits returns the limits anydiag uses when the operator sets none.
func DefaultLimits() Limits {
	return Limits{
		NearCritMarginCelsius: 5,
		FlapCarrierChanges:    2,
		ErrorsPerSecond:       0,
		DropsPerSecond:        10,
		MinKernelMajor:        5,
		MinKernelMinor:        4,
		MinSocketBufferBytes:  4 << 20,
		RxFallingDBPerDay:     0.5,
		RxTrendWindow:         24 * time.Hour,
		RxTrendMinSamples:     6,
		OpticsTempMaxCelsius:  70,
	}
}

// Analyzer evaluates snapshots against Limits. It is stateful only for the
// optics receive-power trend, which needs a window of samples.
type Analyzer struct {
	limits Limits
	now    func() time.Time
	rx     map[string][]rxSample
}

// New returns an Analyzer; now stamps findings and optics samples and
// defaults to time.Now when nil.
func New(l Limits, now func() time.Time) *Analyzer {
	if now == nil {
		now = time.Now
	}
	return &Analyzer{limits: l, now: now, rx: map[string][]rxSample{}}
}
