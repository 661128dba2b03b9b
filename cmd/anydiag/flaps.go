package main

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/analyzers/flap"
	"github.com/spf13/cobra"
)

func init() { register(newFlapsCmd) }

// defaultCollector is where `anydiag bmp serve` and the agent serve the BMP API.
const defaultCollector = bgpDefaultCollector

func newFlapsCmd() *cobra.Command {
	var collector, profile, prefix string
	c := &cobra.Command{
		Use:   "flaps",
		Short: "Route flap penalties (RFC 2439) and prefixes upstreams suppress",
		Long: `flaps reads the flap tracker of a BMP station or agent (GET /api/v1/flaps)
and prints, for every (router, peer, prefix) that flapped, its RFC 2439
figure of merit under a damping profile, whether an upstream damping with
that profile suppresses it and when it can be reused. The node's own anycast
prefixes come first.

Profiles (RFC 7196 Table 1): cisco (withdrawal 1000, re-advertisement 0,
attribute change 500, suppress 2000, reuse 750, half-life 15 min, max
suppress 60 min) and juniper (re-advertisement 1000, suppress 3000). A FILE
names a custom profile by its "name:"; the station must track it too, since
penalties need the event history only the station has: give the same FILE
to 'anydiag bmp serve --flap-profile FILE', or list the profile under
collectors.bmp.flap.custom_profiles in the agent's configuration.

Both the agent (when collectors.bmp.enabled is true) and 'anydiag bmp serve'
serve /api/v1/flaps; a 404 says which of them is missing what.

Exit status 1 when a finding is warning or worse (an own prefix flapping or
suppressed).`,
		Example: `  anydiag flaps
  anydiag flaps --profile juniper --prefix 192.0.2.0/24
  anydiag flaps --profile ./strict.yaml --collector http://127.0.0.1:8080 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := dampening.LoadProfile(profile)
			if err != nil {
				return usageErr("--profile: %v", err)
			}
			var pfx netip.Prefix
			if prefix != "" {
				if pfx, err = netip.ParsePrefix(prefix); err != nil {
					return usageErr("--prefix: %v", err)
				}
			}
			rep, err := flap.FetchReport(cmd.Context(), nil, collector, p.Name, pfx)
			if err != nil {
				return runtimeErr(err)
			}
			if _, builtin := dampening.Builtin(profile); !builtin && !sameProfile(rep.Profile, p) {
				return usageErr("--profile %s: the station tracks a profile named %q with other parameters (%+v); give it the same file", profile, p.Name, rep.Profile)
			}
			if err := emit(cmd, rep, func(w io.Writer) error { return writeFlaps(w, rep) }); err != nil {
				return err
			}
			if !global.json && len(rep.Findings) > 0 {
				if err := writeFindings(cmd.OutOrStdout(), rep.Findings); err != nil {
					return runtimeErr(err)
				}
			}
			return exitFor(rep.Findings)
		},
	}
	c.Flags().StringVar(&collector, "collector", defaultCollector, "base URL of the BMP station or agent HTTP API")
	c.Flags().StringVar(&profile, "profile", "cisco", "damping profile: cisco, juniper or a YAML FILE")
	c.Flags().StringVar(&prefix, "prefix", "", "only this prefix (exact)")
	return c
}

func writeFlaps(w io.Writer, rep flap.Report) error {
	p := rep.Profile
	fmt.Fprintf(w, "profile %s: suppress %.0f, reuse %.0f, half-life %s, max suppress %s, ceiling %.0f\n\n",
		p.Name, p.SuppressThreshold, p.ReuseThreshold, p.HalfLife, p.MaxSuppress, p.Ceiling())
	if len(rep.Entries) == 0 {
		_, err := fmt.Fprintln(w, "no flaps")
		return err
	}
	rows := make([][]string, 0, len(rep.Entries))
	for _, e := range rep.Entries {
		state := "ok"
		if e.Suppressed {
			state = "SUPPRESSED"
		}
		if e.Withdrawn {
			state += ", withdrawn"
		}
		reuse := "-"
		if e.Suppressed {
			reuse = e.ReuseIn().Round(time.Second).String()
		}
		rows = append(rows, []string{e.Prefix.String(), e.Peer, e.Router, fmt.Sprintf("%.0f", e.Penalty),
			fmt.Sprint(e.Flaps), state, reuse})
	}
	if err := table(w, []string{"PREFIX", "PEER", "ROUTER", "PENALTY", "FLAPS", "STATE", "REUSE IN"}, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// sameProfile compares profiles as they cross JSON (durations in seconds).
func sameProfile(a, b dampening.Profile) bool {
	return a.Name == b.Name && a.WithdrawalPenalty == b.WithdrawalPenalty && a.ReadvertisementPenalty == b.ReadvertisementPenalty &&
		a.AttributeChangePenalty == b.AttributeChangePenalty && a.SuppressThreshold == b.SuppressThreshold &&
		a.ReuseThreshold == b.ReuseThreshold && a.HalfLife.Round(time.Millisecond) == b.HalfLife.Round(time.Millisecond) &&
		a.MaxSuppress.Round(time.Millisecond) == b.MaxSuppress.Round(time.Millisecond)
}
