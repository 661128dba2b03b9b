package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrNoNetem is returned when a link asks for Delay and the kernel has no
// tc netem qdisc (true of the project's VMs): delay is not emulated.
var ErrNoNetem = errors.New("link delay needs the tc netem qdisc, which this kernel lacks (\"Specified qdisc kind is unknown\"); delay is unsupported here")

var netem struct {
	once sync.Once
	err  error
}

// probeNetem checks once per process whether netem qdiscs can be created,
// on the loopback of a fresh lab namespace (so the root namespace is never
// touched).
func probeNetem(ctx context.Context, ns string) error {
	netem.once.Do(func() {
		_, err := runCmd(ctx, "", "tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
		if err != nil {
			if strings.Contains(err.Error(), "unknown") {
				netem.err = ErrNoNetem
			} else {
				netem.err = fmt.Errorf("probing tc netem: %w", err)
			}
			return
		}
		_, netem.err = runCmd(ctx, "", "tc", "-n", ns, "qdisc", "del", "dev", "lo", "root")
	})
	return netem.err
}

// applyImpairments shapes the egress of one end of a link: delay with netem
// (probed before), rate with tbf (under netem when both are set), loss with
// an nftables netdev egress rule.
func applyImpairments(ctx context.Context, ns, iface string, lk Link) error {
	parent := "root"
	if lk.Delay > 0 {
		if _, err := runCmd(ctx, "", "tc", "-n", ns, "qdisc", "add", "dev", iface, "root", "handle", "1:",
			"netem", "delay", fmt.Sprintf("%dus", lk.Delay.Microseconds())); err != nil {
			return err
		}
		parent = "parent 1:"
	}
	if lk.Rate != "" {
		bits, err := parseRateBits(lk.Rate)
		if err != nil {
			return err
		}
		// The bucket must hold at least one full frame, and a few
		// milliseconds of traffic so that fast rates are reachable.
		mtu := lk.MTU
		if mtu == 0 {
			mtu = 1500
		}
		burst := max(bits/8/250, uint64(2*(mtu+64)))
		args := []string{"-n", ns, "qdisc", "add", "dev", iface}
		args = append(args, strings.Fields(parent)...)
		args = append(args, "tbf", "rate", fmt.Sprintf("%dbit", bits), "burst", fmt.Sprint(burst), "latency", "50ms")
		if _, err := runCmd(ctx, "", "tc", args...); err != nil {
			return err
		}
	}
	if lk.Loss > 0 {
		return setLoss(ctx, ns, iface, lk.Loss)
	}
	return nil
}

// lossRules is the nftables script dropping pct percent of what leaves iface.
func lossRules(iface string, pct int) string {
	rule := fmt.Sprintf("numgen random mod 100 < %d drop", pct)
	if pct >= 100 {
		rule = "drop"
	}
	return fmt.Sprintf(`table netdev adl_loss_%[1]s
delete table netdev adl_loss_%[1]s
table netdev adl_loss_%[1]s {
	chain egress {
		type filter hook egress device %[2]q priority 0;
		%[3]s
	}
}
`, nftIdent(iface), iface, rule)
}

// nftIdent maps an interface name to an nftables identifier.
func nftIdent(iface string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(iface)
}

func setLoss(ctx context.Context, ns, iface string, pct int) error {
	if pct == 0 {
		_, err := runCmd(ctx, "table netdev adl_loss_"+nftIdent(iface)+"\ndelete table netdev adl_loss_"+nftIdent(iface)+"\n",
			"ip", "netns", "exec", ns, "nft", "-f", "-")
		return err
	}
	_, err := runCmd(ctx, lossRules(iface, pct), "ip", "netns", "exec", ns, "nft", "-f", "-")
	return err
}

// SetLoss changes the loss of the link between nodes a and b (the first
// such link) at run time, in both directions: pct 0 removes it.
func (l *Lab) SetLoss(ctx context.Context, a, b string, pct int) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("lab: loss %d%% out of range 0-100", pct)
	}
	na, nb := l.Node(a), l.Node(b)
	if na == nil || nb == nil {
		return fmt.Errorf("lab: set loss: unknown node %q or %q", a, b)
	}
	for _, i := range na.ifaces {
		if i.Peer != b {
			continue
		}
		if err := setLoss(ctx, na.ns, i.Name, pct); err != nil {
			return fmt.Errorf("lab: set loss %s-%s: %w", a, b, err)
		}
		if err := setLoss(ctx, nb.ns, i.PeerIface, pct); err != nil {
			return fmt.Errorf("lab: set loss %s-%s: %w", a, b, err)
		}
		return nil
	}
	return fmt.Errorf("lab: set loss: no link between %s and %s", a, b)
}

// NFT loads an nftables script (`nft -f -` syntax) in the node: filters,
// ICMP black holes, TTL rewriting.
func (n *Node) NFT(ctx context.Context, script string) error {
	if err := n.live(); err != nil {
		return err
	}
	if _, err := runCmd(ctx, script, "ip", "netns", "exec", n.ns, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	return nil
}

// BlackholePTB makes the node drop the ICMP Fragmentation Needed and
// ICMPv6 Packet Too Big messages it sends, the classic PMTU black hole.
func (n *Node) BlackholePTB(ctx context.Context) error {
	return n.NFT(ctx, `table inet adl_ptb_blackhole {
	chain output {
		type filter hook output priority 0;
		icmp type destination-unreachable icmp code frag-needed drop
		icmpv6 type packet-too-big drop
	}
}
`)
}

// SetLinkUp sets both ends of the link between nodes a and b (the first
// such link) administratively up or down: a cut that both sides see at once.
// The kernel drops routes through a link that goes down; bringing it up
// puts the topology's static routes of both nodes back.
func (l *Lab) SetLinkUp(ctx context.Context, a, b string, up bool) error {
	na, nb := l.Node(a), l.Node(b)
	if na == nil || nb == nil {
		return fmt.Errorf("lab: set link: unknown node %q or %q", a, b)
	}
	state := "down"
	if up {
		state = "up"
	}
	for _, i := range na.ifaces {
		if i.Peer != b {
			continue
		}
		if err := ipBatch(ctx, na.ns, "link set "+i.Name+" "+state+"\n"); err != nil {
			return fmt.Errorf("lab: set link %s-%s %s: %w", a, b, state, err)
		}
		if err := ipBatch(ctx, nb.ns, "link set "+i.PeerIface+" "+state+"\n"); err != nil {
			return fmt.Errorf("lab: set link %s-%s %s: %w", a, b, state, err)
		}
		if !up {
			return nil
		}
		for _, n := range []*Node{na, nb} {
			if len(n.Routes) == 0 {
				continue
			}
			if err := n.replaceRoutes(ctx); err != nil {
				return fmt.Errorf("lab: set link %s-%s up: node %s: routes: %w", a, b, n.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("lab: set link: no link between %s and %s", a, b)
}
