package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/thresholds"
	"github.com/anydiag/anydiag/collectors/host/netns"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

func init() { register(newLinksCmd) }

func newLinksCmd() *cobra.Command {
	var interval time.Duration
	var ns string
	c := &cobra.Command{
		Use:   "links",
		Short: "Interface state, speed, duplex, FEC, MTU and error counters",
		Long: `links lists every interface with its state, carrier changes, MTU, ethtool
settings (speed, duplex, autonegotiation, FEC; "n/s" where the driver does not
support them) and error counters. With --interval it reads twice and reports
flaps and rising error or drop rates. Exit 1 when a finding is warning or worse.`,
		Example: "  anydiag links\n  anydiag links --interval 10s --json\n  anydiag links --netns blue",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 0 {
				return usageErr("--interval must not be negative")
			}
			if err := checkNetns(ns); err != nil {
				return err
			}
			col := inNetns(ns, link.New(link.Options{}).Collect)
			before, after, err := sampleTwice(cmd.Context(), interval, col)
			if err != nil {
				return runtimeErr(err)
			}
			fs := thresholds.New(thresholds.DefaultLimits(), nil).Links(before, after)
			return emitWithFindings(cmd, struct {
				Links    link.Snapshot     `json:"links"`
				Findings []finding.Finding `json:"findings"`
			}{after, fs}, fs, func(w io.Writer) error { return writeLinks(w, after) })
		},
	}
	c.Flags().DurationVar(&interval, "interval", 0, "read twice this far apart to see flaps and error rates (0: one read)")
	c.Flags().StringVar(&ns, "netns", "", "read the named network namespace (ip netns) instead of the current one")
	return c
}

// inNetns wraps collect to run inside namespace ns; empty ns is the current one.
// checkNetns refuses a --netns that names no namespace, listing the ones
// that exist, before any collector runs in it.
func checkNetns(ns string) error {
	if ns == "" {
		return nil
	}
	if strings.ContainsRune(ns, '/') || ns == "." || ns == ".." {
		return usageErr("--netns %q: a namespace name (as in ip netns list), not a path", ns)
	}
	if _, err := os.Stat(netns.Path(ns)); err == nil {
		return nil
	}
	var names []string
	if ents, err := os.ReadDir(filepath.Dir(netns.Path("x"))); err == nil {
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	have := "none exists"
	if len(names) > 0 {
		have = "existing: " + strings.Join(names, ", ")
	}
	return usageErr("--netns %q: no such network namespace (%s; see ip netns list)", ns, have)
}

func inNetns[T any](ns string, collect func() (T, error)) func() (T, error) {
	if ns == "" {
		return collect
	}
	return func() (T, error) {
		var v T
		err := netns.Do(netns.Path(ns), func() (err error) {
			v, err = collect()
			return err
		})
		return v, err
	}
}

func writeLinks(w io.Writer, s link.Snapshot) error {
	rows := make([][]string, 0, len(s.Interfaces))
	for _, i := range s.Interfaces {
		speed, duplex, autoneg, fec := "", "", "", ""
		if e := i.Ethtool; e != nil {
			ns := func(part string) bool {
				for _, u := range e.Unsupported {
					if u == part {
						return true
					}
				}
				return false
			}
			speed, duplex, autoneg, fec = "n/s", "n/s", "n/s", "n/s"
			if !ns("linkmodes") {
				speed, duplex, autoneg = "unknown", e.Duplex, strconv.FormatBool(e.Autoneg)
				if e.SpeedMbps > 0 {
					speed = strconv.Itoa(e.SpeedMbps) + "Mb/s"
				}
			}
			if !ns("fec") {
				fec = e.FECActive
			}
		}
		kind := i.Kind
		if i.Loopback {
			kind = "loopback"
		}
		st := i.Stats
		rows = append(rows, []string{i.Name, kind, i.OperState, strconv.FormatBool(i.Carrier),
			strconv.FormatUint(uint64(i.CarrierChanges), 10), strconv.Itoa(i.MTU), speed, duplex, autoneg, fec,
			fmt.Sprintf("%d/%d", st.RxErrors, st.TxErrors), strconv.FormatUint(st.RxCRCErrors, 10),
			fmt.Sprintf("%d/%d", st.RxDropped, st.TxDropped)})
	}
	return table(w, strings.Fields("IFACE KIND STATE CARRIER CHANGES MTU SPEED DUPLEX AUTONEG FEC ERR_RX/TX CRC DROP_RX/TX"), rows)
}
