package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/anydiag/anydiag/analyzers/pathchoice"
	"github.com/anydiag/anydiag/analyzers/visibility"
	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/finding"
	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/spf13/cobra"
)

func init() { bgpSubcommands = append(bgpSubcommands, newBGPWhyCmd, newBGPVisibilityCmd) }

// bgpAnalyzers is the file --config names: the PoP map and anycast prefixes
// (visibility) and the vantage routers (pathchoice).
type bgpAnalyzers struct {
	Visibility visibility.Config `yaml:"visibility"`
	PathChoice pathchoice.Config `yaml:"pathchoice"`
}

// Validate reports the visibility section's problems with their lines.
func (c *bgpAnalyzers) Validate(p *yamlconf.Problems) {
	if err := c.Visibility.Validate(); err != nil {
		p.Add("visibility", "%v", err)
	}
}

func loadBGPAnalyzers(path string) (bgpAnalyzers, error) {
	var c bgpAnalyzers
	if path == "" {
		return c, nil
	}
	err := yamlconf.Load(path, &c)
	var ye *yamlconf.Error
	if errors.As(err, &ye) {
		for _, pr := range ye.Problems {
			if pr.Key == "node" || pr.Key == "anycast" || pr.Key == "speaker" {
				return c, usageErr("--config %s looks like the agent's configuration; the bgp commands take their own file with visibility: and pathchoice: sections (see --help)\n%v", path, err)
			}
		}
	}
	if err != nil {
		return c, usageErr("--config: %v", err)
	}
	return c, nil
}

const bgpConfigHelp = `--config FILE holds the PoP map and the vantage routers:

  visibility:
    anycast_prefixes:
      - {prefix: 192.0.2.0/24, origin_as: [65100]}
    pops:
      - {name: fra, continent: EU, next_hops: [198.51.100.2], communities: ["65100:1"]}
      - {name: sin, continent: AS, next_hops: [198.51.100.6]}
    min_vantage_points: 2
  pathchoice:
    routers:
      - {address: 203.0.113.1, name: paris-ix, asn: 64500, continent: EU}`

func newBGPWhyCmd() *cobra.Command {
	var collector, cfgPath string
	c := &cobra.Command{
		Use:   "why PREFIX",
		Short: "Explain which PoP each vantage router prefers for PREFIX, and why",
		Long: `why reads the routes a BMP station holds for PREFIX (exact match) and runs
the BGP decision process for each router that sends them: local preference,
AS_PATH length, origin, MED, eBGP over iBGP, IGP cost (not visible in BMP: a
tie), router ID, peer address. It names the PoP each router prefers, the step
at which the other PoPs lose, and the remedy (prepend, communities, MED).
With routers' continents configured it flags a router sent to a PoP on
another continent (catchment.misdirected_continent).

` + bgpConfigHelp,
		Example: `  anydiag bgp why 192.0.2.0/24
  anydiag bgp why 192.0.2.0/24 --config /etc/anydiag/bgp.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix, err := netip.ParsePrefix(args[0])
			if err != nil {
				return usageErr("PREFIX: %v", err)
			}
			cfg, err := loadBGPAnalyzers(cfgPath)
			if err != nil {
				return err
			}
			cl := &bmp.Client{BaseURL: collector}
			rows, err := cl.Routes(cmd.Context(), bmp.RouteQuery{Prefix: prefix})
			if err != nil {
				return runtimeErr(err)
			}
			routes, err := visibility.FromBMP(rows)
			if err != nil {
				return runtimeErr(err)
			}
			peers, err := cl.Peers(cmd.Context())
			if err != nil {
				return runtimeErr(err)
			}
			ids := map[string]string{}
			for _, p := range peers {
				ids[p.Router+"|"+p.PeerAddress] = p.PeerBGPID
			}
			ex := pathchoice.Explain(prefix, routes, ids, cfg.Visibility, cfg.PathChoice, time.Now())
			if err := emit(cmd, ex, func(w io.Writer) error { return writeWhy(w, ex) }); err != nil {
				return err
			}
			return exitFor(ex.Findings)
		},
	}
	c.Flags().StringVar(&collector, "collector", defaultCollector, "base URL of the BMP station or agent HTTP API")
	c.Flags().StringVar(&cfgPath, "config", "", "YAML file with the PoP map and vantage routers")
	return c
}

func writeWhy(w io.Writer, ex pathchoice.Explanation) error {
	if len(ex.Choices) == 0 {
		_, err := fmt.Fprintf(w, "no router sends a route for %s\n", ex.Prefix)
		return err
	}
	rows := make([][]string, 0, len(ex.Choices))
	for _, ch := range ex.Choices {
		name := ch.Router
		if ch.Name != "" {
			name = fmt.Sprintf("%s (%s)", ch.Name, ch.Router)
		}
		pop := ch.Best.PoP
		if pop == "" {
			pop = "?"
		}
		rows = append(rows, []string{name, pop, ch.Best.PeerAddress, fmt.Sprint(ch.Best.ASPath), ch.Step.String(), ch.Reason})
	}
	if err := table(w, []string{"ROUTER", "PREFERS", "VIA PEER", "AS_PATH", "DECIDED BY", "WHY"}, rows); err != nil {
		return err
	}
	for _, ch := range ex.Choices {
		fmt.Fprintf(w, "\n%s: %s\n", ch.Router, ch.Remedy)
		for _, a := range ch.Alternatives {
			fmt.Fprintf(w, "  %-12s via %-15s %v lost at %s (%s)\n", orQ(a.PoP), a.PeerAddress, a.ASPath, a.LostAt, a.Detail)
		}
	}
	if len(ex.Findings) > 0 {
		fmt.Fprintln(w)
		finding.Sort(ex.Findings)
		return writeFindings(w, ex.Findings)
	}
	return nil
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func newBGPVisibilityCmd() *cobra.Command {
	var collector, cfgPath string
	var prefixes []string
	var minVP int
	c := &cobra.Command{
		Use:   "visibility",
		Short: "Which origins, next hops and PoPs each vantage point sees for the anycast prefixes",
		Long: `visibility reads every route a BMP station holds and, for each anycast
prefix, lists what each vantage point (router, peer, table) sees: origin AS,
next hop, PoP (mapped from communities, next hop or origin AS). Findings:
fewer vantage points than required (bgp.visibility_low), a foreign origin AS
(bgp.unexpected_origin), a more-specific (bgp.more_specific), a PoP no vantage
point sees (bgp.pop_invisible).

` + bgpConfigHelp,
		Example: `  anydiag bgp visibility --prefix 192.0.2.0/24
  anydiag bgp visibility --config /etc/anydiag/bgp.yaml --min-vantage-points 3 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadBGPAnalyzers(cfgPath)
			if err != nil {
				return err
			}
			for _, p := range prefixes {
				pfx, err := netip.ParsePrefix(p)
				if err != nil {
					return usageErr("--prefix: %v", err)
				}
				cfg.Visibility.AnycastPrefixes = append(cfg.Visibility.AnycastPrefixes, visibility.AnycastPrefix{Prefix: pfx})
			}
			if len(cfg.Visibility.AnycastPrefixes) == 0 {
				return usageErr("no anycast prefix: give --prefix or visibility.anycast_prefixes in --config")
			}
			if cmd.Flags().Changed("min-vantage-points") {
				cfg.Visibility.MinVantagePoints = minVP
			}
			cl := &bmp.Client{BaseURL: collector}
			// Every route, not one prefix: more-specifics are found among them.
			rows, err := cl.Routes(cmd.Context(), bmp.RouteQuery{})
			if err != nil {
				return runtimeErr(err)
			}
			routes, err := visibility.FromBMP(rows)
			if err != nil {
				return runtimeErr(err)
			}
			rep := visibility.Analyze(cfg.Visibility, routes, time.Now())
			if err := emit(cmd, rep, func(w io.Writer) error { return writeVisibility(w, rep) }); err != nil {
				return err
			}
			return exitFor(rep.Findings)
		},
	}
	c.Flags().StringVar(&collector, "collector", defaultCollector, "base URL of the BMP station or agent HTTP API")
	c.Flags().StringVar(&cfgPath, "config", "", "YAML file with the anycast prefixes and the PoP map")
	c.Flags().StringSliceVar(&prefixes, "prefix", nil, "anycast prefix to check (repeatable), added to the configured ones")
	c.Flags().IntVar(&minVP, "min-vantage-points", 1, "fewer vantage points than this is a finding")
	return c
}

func writeVisibility(w io.Writer, rep visibility.Report) error {
	for _, v := range rep.Prefixes {
		var pops []string
		for _, p := range v.PoPs {
			pops = append(pops, fmt.Sprintf("%s:%d", p.PoP, p.VantagePoints))
		}
		fmt.Fprintf(w, "%s: %d vantage points, origins %v, PoPs [%s]\n", v.Prefix, v.VantagePoints, v.Origins, strings.Join(pops, " "))
		rows := [][]string{}
		for _, s := range append(append([]visibility.Sighting{}, v.Sightings...), v.MoreSpecifics...) {
			rows = append(rows, []string{s.Prefix.String(), s.Router, fmt.Sprintf("%s AS%d", s.PeerAddress, s.PeerAS), s.Table,
				fmt.Sprintf("AS%d", s.OriginAS), s.NextHop, orQ(s.PoP), fmt.Sprint(s.ASPath)})
		}
		if len(rows) > 0 {
			if err := table(w, []string{"PREFIX", "ROUTER", "PEER", "TABLE", "ORIGIN", "NEXT HOP", "POP", "AS_PATH"}, rows); err != nil {
				return err
			}
		}
		fmt.Fprintln(w)
	}
	if len(rep.Findings) == 0 {
		_, err := fmt.Fprintln(w, "no findings")
		return err
	}
	finding.Sort(rep.Findings)
	return writeFindings(w, rep.Findings)
}
