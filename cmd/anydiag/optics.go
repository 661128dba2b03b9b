package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/spf13/cobra"
)

func init() { register(newOpticsCmd) }

func newOpticsCmd() *cobra.Command {
	var ifaces []string
	var file string
	c := &cobra.Command{
		Use:   "optics",
		Short: "Read and decode optical transceiver diagnostics (DOM)",
		Long: `optics reads the EEPROM of pluggable transceivers (SFP, QSFP28, QSFP-DD/OSFP)
through ethtool netlink, or the SIOCETHTOOL ioctl on older kernels, and prints
identity, temperature, supply voltage, per-lane bias and optical power, the
module's own thresholds and its alarm/warning flags. Without --iface it reads
every interface that has a module. --eeprom-file decodes a dump instead: the
output of "ethtool -m IFACE raw on" or "ethtool -m IFACE hex on".

It only reports: judging values against thresholds is the analyzers' job, so
the exit status is 0 unless reading fails (3) or the flags are wrong (2).
Reading a device needs CAP_NET_ADMIN.`,
		Example: `  anydiag optics --iface eth0
  anydiag optics --json
  ethtool -m eth0 raw on > eth0.bin && anydiag optics --eeprom-file eth0.bin
  anydiag optics --eeprom-file eth0.hex --json | jq '.[0].lanes[].rx_power_dbm'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" && len(ifaces) > 0 {
				return usageErr("--eeprom-file and --iface exclude each other")
			}
			src := optics.Sources{Interfaces: ifaces, Scan: true}
			if file != "" {
				src = optics.Sources{Files: map[string]string{"": file}}
			}
			mods, err := optics.Read(cmd.Context(), src)
			if err != nil {
				return runtimeErr(err)
			}
			if mods == nil {
				mods = []optics.Module{}
			}
			return emit(cmd, mods, func(w io.Writer) error { return writeModules(w, mods) })
		},
	}
	c.Flags().StringSliceVar(&ifaces, "iface", nil, "interface to read (repeatable; default: every interface with a module)")
	c.Flags().StringVar(&file, "eeprom-file", "", "decode this dump (ethtool -m raw or hex output) instead of reading a device")
	return c
}

func writeModules(w io.Writer, mods []optics.Module) error {
	if len(mods) == 0 {
		_, err := fmt.Fprintln(w, "no transceiver modules found")
		return err
	}
	for i, m := range mods {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := writeModule(w, &m); err != nil {
			return err
		}
	}
	return nil
}

func writeModule(w io.Writer, m *optics.Module) error {
	id := m.Identity
	name := m.Interface
	if name == "" {
		name = m.Source
	}
	wl := "copper/unknown"
	if id.WavelengthNM > 0 {
		wl = fmt.Sprintf("%g nm", id.WavelengthNM)
	}
	fmt.Fprintf(w, "%s: %s %s %s (serial %s, rev %s, %s) [%s via %s]\n",
		name, id.Type, id.Vendor, id.PartNumber, id.Serial, id.Revision, wl, m.Standard, m.Source)
	mf := m.Flags
	if mf == nil {
		mf = &optics.Flags{}
	}
	var th optics.Thresholds
	if m.Thresholds != nil {
		th = *m.Thresholds
	}
	rows := [][]string{}
	if m.Monitors.Temp {
		rows = append(rows, quantityRow("temperature", "°C", m.TempCelsius, "%.2f", th.TempCelsius, m.Thresholds != nil, mf.Temp))
	}
	if m.Monitors.Vcc {
		rows = append(rows, quantityRow("supply", "V", m.VccVolts, "%.4f", th.VccVolts, m.Thresholds != nil, mf.Vcc))
	}
	if len(rows) > 0 {
		if err := table(w, []string{"  MODULE", "VALUE", "LOW ALARM", "LOW WARN", "HIGH WARN", "HIGH ALARM", "FLAGS"}, rows); err != nil {
			return err
		}
	}
	if len(m.Lanes) > 0 {
		lanes := make([][]string, 0, len(m.Lanes))
		for _, l := range m.Lanes {
			lanes = append(lanes, []string{
				fmt.Sprintf("  %d", l.Lane),
				fmt.Sprintf("%.3f", l.TxBiasMA),
				powerCell(l.TxPowerMW, l.TxPowerDBm, l.TxNoLight),
				powerCell(l.RxPowerMW, l.RxPowerDBm, l.RxNoLight),
				laneFlags(l.Flags),
			})
		}
		fmt.Fprintf(w, "  Rx power: %s\n", m.RxPowerType)
		if err := table(w, []string{"  LANE", "TX BIAS mA", "TX POWER", "RX POWER", "FLAGS"}, lanes); err != nil {
			return err
		}
	}
	if m.Thresholds != nil {
		t := m.Thresholds
		rows := [][]string{
			limitRow("Tx bias mA", t.TxBiasMA, "%.3f"),
			limitRow("Tx power dBm", t.TxPowerDBm, "%.2f"),
			limitRow("Tx power mW", t.TxPowerMW, "%.4f"),
			limitRow("Rx power dBm", t.RxPowerDBm, "%.2f"),
			limitRow("Rx power mW", t.RxPowerMW, "%.4f"),
		}
		if err := table(w, []string{"  LANE LIMITS", "LOW ALARM", "LOW WARN", "HIGH WARN", "HIGH ALARM"}, rows); err != nil {
			return err
		}
	}
	for _, n := range m.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

func quantityRow(name, unit string, v float64, format string, l optics.Limits, haveLimits bool, f optics.Levels) []string {
	row := []string{"  " + name, fmt.Sprintf(format+" %s", v, unit)}
	if haveLimits {
		for _, x := range []float64{l.LowAlarm, l.LowWarning, l.HighWarning, l.HighAlarm} {
			row = append(row, fmt.Sprintf(format, x))
		}
	} else {
		row = append(row, "-", "-", "-", "-")
	}
	return append(row, levelNames("", f))
}

func limitRow(name string, l optics.Limits, format string) []string {
	return []string{"  " + name, fmt.Sprintf(format, l.LowAlarm), fmt.Sprintf(format, l.LowWarning), fmt.Sprintf(format, l.HighWarning), fmt.Sprintf(format, l.HighAlarm)}
}

func powerCell(mw, dbm float64, noLight bool) string {
	if noLight {
		return "no light (0 mW)"
	}
	return fmt.Sprintf("%.4f mW / %.2f dBm", mw, dbm)
}

// levelNames lists the raised flags, "-" when none.
func levelNames(prefix string, l optics.Levels) string {
	var s []string
	for _, f := range []struct {
		on   bool
		name string
	}{{l.HighAlarm, "high alarm"}, {l.LowAlarm, "low alarm"}, {l.HighWarning, "high warning"}, {l.LowWarning, "low warning"}} {
		if f.on {
			s = append(s, prefix+f.name)
		}
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func laneFlags(f *optics.LaneFlags) string {
	if f == nil {
		return "n/a"
	}
	var s []string
	for _, x := range []struct {
		prefix string
		l      optics.Levels
	}{{"Tx bias ", f.TxBias}, {"Tx power ", f.TxPower}, {"Rx power ", f.RxPower}} {
		if n := levelNames(x.prefix, x.l); n != "-" {
			s = append(s, n)
		}
	}
	for _, x := range []struct {
		on   bool
		name string
	}{{f.TxFault, "Tx fault"}, {f.TxLOS, "Tx LOS"}, {f.RxLOS, "Rx LOS"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}
