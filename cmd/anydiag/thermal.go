package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/anydiag/anydiag/analyzers/thresholds"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

func init() { register(newThermalCmd) }

func newThermalCmd() *cobra.Command {
	var sysRoot string
	var interval time.Duration
	c := &cobra.Command{
		Use:   "thermal",
		Short: "Temperatures, thermal zones, cooling devices, CPU throttling and frequency",
		Long: `thermal reads hwmon sensors, thermal zones, cooling devices, CPU throttle
counters and frequencies under --sys, and reports sensors near their critical
temperature. With --interval it reads twice and reports throttle counters that
rose in between. Exit 1 when a finding is warning or worse.`,
		Example: "  anydiag thermal\n  anydiag thermal --interval 5s --json\n  anydiag thermal --sys collectors/thermal/testdata/intel-server",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 0 {
				return usageErr("--interval must not be negative")
			}
			col := thermal.New(sysRoot, nil)
			before, after, err := sampleTwice(cmd.Context(), interval, col.Collect)
			if err != nil {
				return runtimeErr(err)
			}
			fs := thresholds.New(thresholds.DefaultLimits(), nil).Thermal(before, after)
			return emitWithFindings(cmd, struct {
				Thermal  thermal.Snapshot  `json:"thermal"`
				Findings []finding.Finding `json:"findings"`
			}{after, fs}, fs, func(w io.Writer) error { return writeThermal(w, after) })
		},
	}
	c.Flags().StringVar(&sysRoot, "sys", "/sys", "sysfs root to read")
	c.Flags().DurationVar(&interval, "interval", 0, "read twice this far apart to see throttle counters rise (0: one read)")
	return c
}

// sampleTwice collects once, or twice interval apart; before is nil for one
// sample. The wait is a sampling interval, cut short by ctx.
func sampleTwice[T any](ctx context.Context, interval time.Duration, collect func() (T, error)) (*T, T, error) {
	first, err := collect()
	if err != nil || interval == 0 {
		return nil, first, err
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, first, ctx.Err()
	case <-t.C:
	}
	second, err := collect()
	return &first, second, err
}

// emitWithFindings prints v (JSON) or human then the findings, and returns
// the exit status the findings imply.
func emitWithFindings(cmd *cobra.Command, v any, fs []finding.Finding, human func(io.Writer) error) error {
	finding.Sort(fs)
	err := emit(cmd, v, func(w io.Writer) error {
		if err := human(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if len(fs) == 0 {
			_, err := fmt.Fprintln(w, "no findings")
			return err
		}
		return writeFindings(w, fs)
	})
	if err != nil {
		return err
	}
	return exitFor(fs)
}

func writeThermal(w io.Writer, s thermal.Snapshot) error {
	rows := [][]string{}
	for _, x := range s.Sensors {
		rows = append(rows, []string{x.Chip, x.Name(), celsius(x.TempCelsius), celsius(x.MaxCelsius), celsius(x.CritCelsius)})
	}
	for _, z := range s.Zones {
		rows = append(rows, []string{z.Zone, z.Type, celsius(z.TempCelsius), "", celsius(z.CritCelsius())})
	}
	if err := table(w, []string{"SOURCE", "SENSOR", "TEMP", "MAX", "CRIT"}, rows); err != nil {
		return err
	}
	if len(s.Cooling) > 0 {
		rows = rows[:0]
		for _, c := range s.Cooling {
			rows = append(rows, []string{c.Device, c.Type, fmt.Sprintf("%d/%d", c.CurState, c.MaxState)})
		}
		fmt.Fprintln(w)
		if err := table(w, []string{"COOLING", "TYPE", "STATE"}, rows); err != nil {
			return err
		}
	}
	rows = rows[:0]
	for _, c := range s.CPUs {
		throttles := "-"
		if c.HasThrottle {
			throttles = fmt.Sprintf("%d/%d", c.CoreThrottleCount, c.PackageThrottleCount)
		}
		freq := "-"
		if c.MaxFreqKHz > 0 {
			freq = fmt.Sprintf("%d/%d MHz", c.CurFreqKHz/1000, c.MaxFreqKHz/1000)
		}
		rows = append(rows, []string{strconv.Itoa(c.CPU), strconv.Itoa(c.Package), strconv.Itoa(c.Core), throttles, freq})
	}
	fmt.Fprintln(w)
	return table(w, []string{"CPU", "PKG", "CORE", "THROTTLES CORE/PKG", "FREQ CUR/MAX"}, rows)
}

func celsius(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " °C"
}
