package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/thresholds"
	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/thermal"
	"github.com/anydiag/anydiag/internal/config"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

func init() { register(newDoctorCmd) }

// doctorInputs are what doctor takes from the agent configuration.
type doctorInputs struct {
	req            host.Requirements
	limits         thresholds.Limits
	sysRoot        string
	opticsIfaces   []string
	opticsFiles    map[string]string
	haveAnycastCfg bool
	// bgpPorts are the ports of the configured embedded speaker's sessions
	// (nil: 179), so a speaker on another port is recognised.
	bgpPorts []uint16
}

func newDoctorCmd() *cobra.Command {
	var cfgPath, sysRoot, procRoot, ns string
	var interval time.Duration
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check this node once: host prerequisites, thermal, links, optics",
		Long: `doctor runs every host collector and analyzer once (thermal and link counters
twice, --interval apart) and prints the findings grouped by area, worst first,
each prerequisite with the command that fixes it. Without --config it runs the
checks that need no configuration (kernel, sysctls, BGP daemon, thermal, links,
optics found by scanning); with --config it also checks the anycast addresses,
the encapsulation MTU budget and the configured optics receive range.
Exit 0 when healthy, 1 when a finding is warning or worse.`,
		Example: "  anydiag doctor\n  anydiag doctor --config /etc/anydiag/agent.yaml --json\n  anydiag doctor --interval 0 --netns blue",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 0 {
				return usageErr("--interval must not be negative")
			}
			if err := checkNetns(ns); err != nil {
				return err
			}
			in := doctorInputs{limits: thresholds.DefaultLimits(), sysRoot: sysRoot}
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return usageErr("%v", err)
				}
				in = inputsFromConfig(cfg, in, cmd.Flags().Changed("sys"))
			}
			return emitDoctor(cmd, runDoctor(cmd, in, procRoot, ns, interval))
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "agent configuration file (anycast addresses, encapsulations, optics range)")
	c.Flags().StringVar(&sysRoot, "sys", "/sys", "sysfs root for the thermal collector")
	c.Flags().StringVar(&procRoot, "proc", "/proc", "procfs root for the host collector")
	c.Flags().StringVar(&ns, "netns", "", "check the named network namespace (ip netns) for host and link checks")
	c.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between the two thermal and link samples (0: one sample, no rates)")
	return c
}

// inputsFromConfig takes the few values doctor needs from the agent config.
func inputsFromConfig(cfg *config.Config, in doctorInputs, sysFlagSet bool) doctorInputs {
	in.haveAnycastCfg = true
	in.req.AnycastInterface = cfg.Anycast.Interface
	for _, p := range cfg.Anycast.Prefixes {
		in.req.AnycastAddresses = append(in.req.AnycastAddresses, p.Addr())
	}
	if cfg.Anycast.Canary != nil {
		in.req.AnycastAddresses = append(in.req.AnycastAddresses, cfg.Anycast.Canary.Addr())
	}
	in.req.Encapsulations = cfg.Collectors.Host.Encapsulations
	if g := cfg.Speaker.GoBGP; g != nil {
		in.bgpPorts = append(g.Ports(), 179)
	}
	if r := cfg.Collectors.Optics.RxPowerDBm; r != nil {
		in.limits.RxPowerDBm = &thresholds.Range{Min: r.Min, Max: r.Max}
	}
	if root := cfg.Collectors.Thermal.SysfsRoot; root != "" && !sysFlagSet {
		in.sysRoot = root
	}
	in.opticsIfaces = cfg.Collectors.Optics.Interfaces
	in.opticsFiles = cfg.Collectors.Optics.EEPROMFiles
	return in
}

// doctorReport is doctor's JSON document.
type doctorReport struct {
	// Checks maps each collector to "ok" or its error, and "anycast" to why
	// the anycast checks were skipped.
	Checks   map[string]string `json:"checks"`
	Findings []finding.Finding `json:"findings"`
}

func runDoctor(cmd *cobra.Command, in doctorInputs, procRoot, ns string, interval time.Duration) doctorReport {
	a := thresholds.New(in.limits, nil)
	r := doctorReport{Checks: map[string]string{}}
	check := func(name string, err error, fs []finding.Finding) {
		r.Checks[name] = "ok"
		if err != nil {
			r.Checks[name] = err.Error()
			fs = append(fs, finding.New("collector.failed", name, err.Error(), nil, time.Now()))
		}
		r.Findings = append(r.Findings, fs...)
	}
	facts, err := inNetns(ns, host.New(host.Options{ProcRoot: procRoot, BGPPorts: in.bgpPorts}).Collect)()
	var fs []finding.Finding
	if err == nil {
		fs = a.Prerequisites(facts, in.req)
	}
	check("host", err, fs)
	if !in.haveAnycastCfg {
		r.Checks["anycast"] = "skipped: anycast addresses and MTU budget need --config"
	}

	// Thermal and link samples are taken together so one wait serves both.
	type both struct {
		th thermal.Snapshot
		ln link.Snapshot
	}
	collectLinks := inNetns(ns, link.New(link.Options{}).Collect)
	thCol := thermal.New(in.sysRoot, nil)
	var thErr, lnErr error
	before, after, _ := sampleTwice(cmd.Context(), interval, func() (both, error) {
		var b both
		b.th, thErr = thCol.Collect()
		b.ln, lnErr = collectLinks()
		return b, nil
	})
	var thPrev *thermal.Snapshot
	var lnPrev *link.Snapshot
	if before != nil {
		thPrev, lnPrev = &before.th, &before.ln
	}
	check("thermal", thErr, a.Thermal(thPrev, after.th))
	check("link", lnErr, a.Links(lnPrev, after.ln))

	mods, err := doctorOptics(cmd, in)
	check("optics", err, a.Optics(mods))
	finding.Sort(r.Findings)
	return r
}

// doctorOptics reads the configured EEPROM files and interfaces, and scans
// every interface when neither is configured.
func doctorOptics(cmd *cobra.Command, in doctorInputs) ([]optics.Module, error) {
	return optics.Read(cmd.Context(), optics.Sources{
		Files: in.opticsFiles, Interfaces: in.opticsIfaces, Scan: len(in.opticsFiles) == 0,
	})
}

func emitDoctor(cmd *cobra.Command, r doctorReport) error {
	if r.Findings == nil {
		r.Findings = []finding.Finding{}
	}
	err := emit(cmd, r, func(w io.Writer) error {
		// Areas in the order of their worst finding; findings are sorted.
		var areas []string
		byArea := map[string][]finding.Finding{}
		for _, f := range r.Findings {
			area := "other"
			if c, ok := finding.Lookup(f.Code); ok {
				area = c.Area
			}
			if _, seen := byArea[area]; !seen {
				areas = append(areas, area)
			}
			byArea[area] = append(byArea[area], f)
		}
		for _, area := range areas {
			fmt.Fprintf(w, "%s (%s)\n", strings.ToUpper(area), byArea[area][0].Severity)
			for _, f := range byArea[area] {
				fmt.Fprintf(w, "  %-8s %s %s: %s\n", strings.ToUpper(f.Severity.String()), f.Code, f.Subject, f.Summary)
			}
		}
		var ok []string
		for _, name := range []string{"host", "thermal", "link", "optics"} {
			if r.Checks[name] == "ok" {
				ok = append(ok, name)
			}
		}
		if _, err := fmt.Fprintf(w, "checked: %s; %d finding(s)\n", strings.Join(ok, ", "), len(r.Findings)); err != nil {
			return err
		}
		if s, skipped := r.Checks["anycast"]; skipped {
			_, err := fmt.Fprintln(w, s)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return exitFor(r.Findings)
}
