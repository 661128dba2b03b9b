package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/bmp/wire"
	"github.com/spf13/cobra"
)

func init() { register(newBGPCmd) }

// bgpSubcommands are the `anydiag bgp` subcommands; other files append
// theirs in their init.
var bgpSubcommands = []func() *cobra.Command{newBGPPeersCmd, newBGPRoutesCmd}

// newBGPCmd builds the `bgp` parent with every registered subcommand.
func newBGPCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bgp",
		Short: "BGP state as a BMP station sees it",
	}
	for _, f := range bgpSubcommands {
		c.AddCommand(f())
	}
	return c
}

const bgpDefaultCollector = "http://127.0.0.1:8080"

// bgpTables are the RIBs --table accepts, as the BMP station names them.
const bgpTables = "adj-rib-in-pre, adj-rib-in-post, adj-rib-out-pre, adj-rib-out-post, loc-rib"

func newBGPPeersCmd() *cobra.Command {
	var collector string
	c := &cobra.Command{
		Use:     "peers",
		Short:   "List monitored BGP peers and their tables (like birdc show protocols)",
		Example: `  anydiag bgp peers --collector http://127.0.0.1:8080`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := &bmp.Client{BaseURL: collector}
			ps, err := cl.Peers(cmd.Context())
			if err != nil {
				return runtimeErr(err)
			}
			return emit(cmd, ps, func(w io.Writer) error {
				rows := make([][]string, 0, len(ps))
				for _, p := range ps {
					since := ""
					if p.UpSince != nil {
						since = p.UpSince.Format(time.RFC3339)
					}
					info := p.LastDownReason
					if p.State == "up" {
						info = ""
					}
					addr := p.PeerAddress
					if p.PeerType != "" && p.PeerType != "global" {
						addr += " " + p.PeerType + " " + p.PeerDistinguisher
					}
					rows = append(rows, []string{p.Router, addr, "AS" + strconv.FormatUint(uint64(p.PeerAS), 10), p.PeerBGPID, p.Table, p.State, strconv.Itoa(p.Routes), since, info})
				}
				return table(w, []string{"ROUTER", "PEER", "AS", "BGP ID", "TABLE", "STATE", "ROUTES", "UP SINCE", "INFO"}, rows)
			})
		},
	}
	c.Flags().StringVar(&collector, "collector", bgpDefaultCollector, "URL of the BMP station's HTTP API")
	return c
}

func newBGPRoutesCmd() *cobra.Command {
	var collector, router, peer, tbl, dist, peerType string
	c := &cobra.Command{
		Use:   "routes PREFIX",
		Short: "Show the routes for a prefix in every router, peer and table (like birdc show route)",
		Example: `  anydiag bgp routes 192.0.2.0/24 --collector http://127.0.0.1:8080
  anydiag bgp routes 2001:db8::/32 --table loc-rib --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pfx, err := netip.ParsePrefix(args[0])
			if err != nil {
				return usageErr("bgp routes: %q is not a prefix: write it like 192.0.2.0/24 or 2001:db8::/32", args[0])
			}
			if _, ok := wire.ParseTable(tbl); tbl != "" && !ok {
				return usageErr("bgp routes: --table %q: want one of %s", tbl, bgpTables)
			}
			if _, ok := wire.ParsePeerType(peerType); peerType != "" && !ok {
				return usageErr("bgp routes: --peer-type %q: want global, rd, local or loc-rib", peerType)
			}
			if _, err := wire.ParseDistinguisher(dist); dist != "" && err != nil {
				return usageErr("bgp routes: --distinguisher: %v", err)
			}
			q := bmp.RouteQuery{Prefix: pfx.Masked(), Router: router, Table: tbl, Distinguisher: dist, PeerType: peerType}
			if peer != "" {
				if q.Peer, err = netip.ParseAddr(peer); err != nil {
					return usageErr("bgp routes: --peer %q is not an IP address", peer)
				}
			}
			cl := &bmp.Client{BaseURL: collector}
			rs, err := cl.Routes(cmd.Context(), q)
			if err != nil {
				return runtimeErr(err)
			}
			return emit(cmd, rs, func(w io.Writer) error {
				if len(rs) == 0 {
					_, err := fmt.Fprintf(w, "no route for %s\n", q.Prefix)
					return err
				}
				rows := make([][]string, 0, len(rs))
				for _, r := range rs {
					path := make([]string, len(r.ASPath))
					for i, a := range r.ASPath {
						path[i] = strconv.FormatUint(uint64(a), 10)
					}
					attrs := []string{r.Origin}
					if r.LocalPref != nil {
						attrs = append(attrs, "lp "+strconv.FormatUint(uint64(*r.LocalPref), 10))
					}
					if r.MED != nil {
						attrs = append(attrs, "med "+strconv.FormatUint(uint64(*r.MED), 10))
					}
					comms := strings.Join(append(append([]string{}, r.Communities...), r.LargeCommunities...), " ")
					peerCol := r.PeerAddress + " AS" + strconv.FormatUint(uint64(r.PeerAS), 10)
					if r.PeerType != "" && r.PeerType != "global" {
						// VRFs and Loc-RIB instances of one router differ only here.
						peerCol += " " + r.PeerType + " " + r.PeerDistinguisher
					}
					rows = append(rows, []string{r.Prefix, strconv.FormatUint(uint64(r.PathID), 10), r.Router, peerCol, r.Table, r.NextHop, strings.Join(path, " "), strings.Join(attrs, " "), comms})
				}
				return table(w, []string{"PREFIX", "PATH ID", "ROUTER", "PEER", "TABLE", "NEXT HOP", "AS PATH", "ATTRS", "COMMUNITIES"}, rows)
			})
		},
	}
	c.Flags().StringVar(&collector, "collector", bgpDefaultCollector, "URL of the BMP station's HTTP API")
	c.Flags().StringVar(&router, "router", "", "only this router (address or sysName)")
	c.Flags().StringVar(&peer, "peer", "", "only this peer address")
	c.Flags().StringVar(&tbl, "table", "", "only this table: "+bgpTables)
	c.Flags().StringVar(&dist, "distinguisher", "", "only this peer distinguisher (VRF RD or Loc-RIB instance), as 0:65000:1, 1:192.0.2.1:7 or 2:4226809946:907")
	c.Flags().StringVar(&peerType, "peer-type", "", "only this peer type: global, rd (VRF), local or loc-rib")
	return c
}
