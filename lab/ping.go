package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

var pingSeq atomic.Uint32

// Ping sends one ICMP echo request from the node to dst and waits for the
// matching reply until ctx ends (give it a deadline). It returns the round
// trip time.
func (n *Node) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	network, laddr := "ip4:icmp", "0.0.0.0"
	var typ icmp.Type = ipv4.ICMPTypeEcho
	var reply icmp.Type = ipv4.ICMPTypeEchoReply
	proto := 1
	if dst.Is6() && !dst.Is4In6() {
		network, laddr = "ip6:ipv6-icmp", "::"
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	var c *icmp.PacketConn
	if err := n.Do(func() (err error) {
		c, err = icmp.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return 0, fmt.Errorf("lab: ping %s from %s: %w", dst, n.Name, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	seq := int(pingSeq.Add(1) & 0xffff)
	id := os.Getpid() & 0xffff
	body := &icmp.Echo{ID: id, Seq: seq, Data: []byte("anydiag-lab")}
	b, err := (&icmp.Message{Type: typ, Body: body}).Marshal(nil)
	if err != nil {
		return 0, fmt.Errorf("lab: ping: %w", err)
	}
	start := time.Now()
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("lab: ping %s from %s: %w", dst, n.Name, err)
	}
	buf := make([]byte, 1500)
	for {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return 0, fmt.Errorf("lab: ping %s from %s: no reply: %w", dst, n.Name, ctx.Err())
			}
			return 0, fmt.Errorf("lab: ping %s from %s: %w", dst, n.Name, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != id || e.Seq != seq {
			continue
		}
		if a, ok := from.(*net.IPAddr); ok {
			if src, ok := netip.AddrFromSlice(a.IP); ok && src.Unmap() != dst.Unmap() {
				continue
			}
		}
		return time.Since(start), nil
	}
}
