package thresholds

import (
	"fmt"
	"time"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/internal/finding"
)

// rxSample is one receive-power reading of one lane.
type rxSample struct {
	at  time.Time
	dBm float64
}

// Optics reports, per module and lane, power and temperature outside the
// module's own thresholds, its raised flags or the configured range, and
// receive power falling over the trend window. Each call records one sample
// per lane at the analyzer's clock.
func (a *Analyzer) Optics(mods []optics.Module) []finding.Finding {
	var out []finding.Finding
	now := a.now()
	for _, m := range mods {
		name := m.Interface
		if name == "" {
			name = m.Identity.Vendor + " " + m.Identity.Serial
		}
		out = append(out, a.moduleTemp(name, m)...)
		for _, l := range m.Lanes {
			subject := fmt.Sprintf("%s lane %d", name, l.Lane)
			if m.Monitors.RxPower {
				if f, ok := a.rxLevel(subject, m, l); ok {
					out = append(out, f)
				}
				if f, ok := a.rxTrend(subject, l, now); ok {
					out = append(out, f)
				}
			}
			if m.Monitors.TxPower {
				if f, ok := a.txLevel(subject, m, l); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// usable reports whether a module's limits were programmed: unprogrammed
// ones read all zero.
func usable(l optics.Limits) bool { return l.HighAlarm > l.LowAlarm }

func (a *Analyzer) rxLevel(subject string, m optics.Module, l optics.Lane) (finding.Finding, bool) {
	ev := map[string]any{"rx_power_dbm": l.RxPowerDBm, "rx_power_mw": l.RxPowerMW}
	var fl optics.Levels
	if l.Flags != nil {
		fl = l.Flags.RxPower
		if l.Flags.RxLOS {
			ev["rx_los"] = true
		}
	}
	if l.RxNoLight || (l.Flags != nil && l.Flags.RxLOS) {
		return finding.New("optics.no_light", subject, "no light received", ev, a.now()), true
	}
	var th *optics.Limits
	if m.Thresholds != nil && usable(m.Thresholds.RxPowerDBm) {
		th = &m.Thresholds.RxPowerDBm
		ev["low_alarm_dbm"], ev["low_warning_dbm"] = th.LowAlarm, th.LowWarning
		ev["high_alarm_dbm"], ev["high_warning_dbm"] = th.HighAlarm, th.HighWarning
	}
	p := l.RxPowerDBm
	r := a.limits.RxPowerDBm
	switch {
	case (th != nil && p <= th.LowAlarm) || fl.LowAlarm:
		return finding.New("optics.rx_power_low", subject, fmt.Sprintf("receive power %.2f dBm is at the module's low alarm", p), ev, a.now()).WithSeverity(finding.Critical), true
	case (th != nil && p >= th.HighAlarm) || fl.HighAlarm:
		return finding.New("optics.rx_power_high", subject, fmt.Sprintf("receive power %.2f dBm is at the module's high alarm", p), ev, a.now()).WithSeverity(finding.Critical), true
	case (th != nil && p <= th.LowWarning) || fl.LowWarning:
		return finding.New("optics.rx_power_low", subject, fmt.Sprintf("receive power %.2f dBm is at the module's low warning", p), ev, a.now()), true
	case (th != nil && p >= th.HighWarning) || fl.HighWarning:
		return finding.New("optics.rx_power_high", subject, fmt.Sprintf("receive power %.2f dBm is at the module's high warning", p), ev, a.now()), true
	case r != nil && p < r.Min:
		ev["range_min_dbm"] = r.Min
		return finding.New("optics.rx_power_low", subject, fmt.Sprintf("receive power %.2f dBm is below the configured %.2f dBm", p, r.Min), ev, a.now()), true
	case r != nil && p > r.Max:
		ev["range_max_dbm"] = r.Max
		return finding.New("optics.rx_power_high", subject, fmt.Sprintf("receive power %.2f dBm is above the configured %.2f dBm", p, r.Max), ev, a.now()), true
	}
	return finding.Finding{}, false
}

func (a *Analyzer) txLevel(subject string, m optics.Module, l optics.Lane) (finding.Finding, bool) {
	ev := map[string]any{"tx_power_dbm": l.TxPowerDBm, "tx_bias_ma": l.TxBiasMA}
	var fl optics.Levels
	if l.Flags != nil {
		fl = l.Flags.TxPower
		if l.Flags.TxFault {
			ev["tx_fault"] = true
		}
	}
	th := optics.Limits{}
	if m.Thresholds != nil {
		th = m.Thresholds.TxPowerDBm
	}
	switch {
	case l.TxNoLight || (l.Flags != nil && l.Flags.TxFault) || (usable(th) && l.TxPowerDBm <= th.LowAlarm) || fl.LowAlarm:
		return finding.New("optics.tx_power_low", subject, fmt.Sprintf("transmit power %.2f dBm is at or below the low alarm (or the laser is off or faulty)", l.TxPowerDBm), ev, a.now()).WithSeverity(finding.Critical), true
	case (usable(th) && l.TxPowerDBm <= th.LowWarning) || fl.LowWarning:
		return finding.New("optics.tx_power_low", subject, fmt.Sprintf("transmit power %.2f dBm is at the low warning", l.TxPowerDBm), ev, a.now()), true
	}
	return finding.Finding{}, false
}

func (a *Analyzer) moduleTemp(name string, m optics.Module) []finding.Finding {
	if !m.Monitors.Temp {
		return nil
	}
	t := m.TempCelsius
	ev := map[string]any{"temp_celsius": t}
	var fl optics.Levels
	if m.Flags != nil {
		fl = m.Flags.Temp
	}
	if m.Thresholds != nil && usable(m.Thresholds.TempCelsius) {
		th := m.Thresholds.TempCelsius
		ev["high_warning_celsius"], ev["high_alarm_celsius"] = th.HighWarning, th.HighAlarm
		switch {
		case t >= th.HighAlarm || fl.HighAlarm:
			return []finding.Finding{finding.New("optics.temperature_high", name, fmt.Sprintf("module at %.1f °C, at its high alarm %.1f °C", t, th.HighAlarm), ev, a.now()).WithSeverity(finding.Critical)}
		case t >= th.HighWarning || fl.HighWarning:
			return []finding.Finding{finding.New("optics.temperature_high", name, fmt.Sprintf("module at %.1f °C, at its high warning %.1f °C", t, th.HighWarning), ev, a.now())}
		}
		return nil
	}
	if lim := a.limits.OpticsTempMaxCelsius; (lim > 0 && t >= lim) || fl.HighAlarm || fl.HighWarning {
		ev["limit_celsius"] = lim
		return []finding.Finding{finding.New("optics.temperature_high", name, fmt.Sprintf("module at %.1f °C (no module thresholds; limit %.1f °C)", t, lim), ev, a.now())}
	}
	return nil
}

// rxTrend records a sample and fits a least-squares line over the window.
func (a *Analyzer) rxTrend(subject string, l optics.Lane, now time.Time) (finding.Finding, bool) {
	w := a.limits.RxTrendWindow
	if w <= 0 || a.limits.RxFallingDBPerDay <= 0 {
		return finding.Finding{}, false
	}
	s := append(a.rx[subject], rxSample{at: now, dBm: l.RxPowerDBm})
	for len(s) > 0 && now.Sub(s[0].at) > w {
		s = s[1:]
	}
	a.rx[subject] = s
	// No light is not a trend: optics.no_light covers it.
	if len(s) < max(a.limits.RxTrendMinSamples, 2) || now.Sub(s[0].at) < w/2 || l.RxNoLight {
		return finding.Finding{}, false
	}
	perDay := slopePerDay(s)
	if perDay > -a.limits.RxFallingDBPerDay {
		return finding.Finding{}, false
	}
	return finding.New("optics.rx_power_falling", subject,
		fmt.Sprintf("receive power falls %.2f dB/day over %s (now %.2f dBm)", -perDay, now.Sub(s[0].at).Round(time.Minute), l.RxPowerDBm),
		map[string]any{"slope_db_per_day": perDay, "samples": len(s), "rx_power_dbm": l.RxPowerDBm}, now), true
}

// slopePerDay is the least-squares slope of dBm against time, in dB/day.
func slopePerDay(s []rxSample) float64 {
	t0 := s[0].at
	var sx, sy, sxx, sxy float64
	for _, p := range s {
		x := p.at.Sub(t0).Hours() / 24
		sx += x
		sy += p.dBm
		sxx += x * x
		sxy += x * p.dBm
	}
	n := float64(len(s))
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}
