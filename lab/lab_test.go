package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// needRoot skips tests that build namespaces when they cannot.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab tests need root (network namespaces, veth links)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab tests need the ip command (iproute2)")
	}
}

// up builds topo and closes it when the test ends.
func up(t *testing.T, topo *Topology) *Lab {
	t.Helper()
	l, err := Up(t.Context(), topo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

func loadChain(t *testing.T) *Topology {
	t.Helper()
	topo, err := Load("../examples/lab/chain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// icmpReply is what a probe got back, parsed from the wire.
type icmpReply struct {
	Type, Code int
	MTU        int // next-hop MTU (IPv4 Fragmentation Needed) or IPv6 Packet Too Big MTU
	Src        netip.Addr
}

// probeUDP sends one UDP datagram of size bytes (IP header included) with
// the given TTL and DF set from inside node to dst, and returns the ICMP
// error the network sends back about that very datagram.
func probeUDP(ctx context.Context, n *Node, dst netip.Addr, ttl, size int) (icmpReply, error) {
	v6 := dst.Is6()
	var (
		uc  net.PacketConn
		raw *icmp.PacketConn
	)
	err := n.Do(func() (err error) {
		network, rawNet, rawAddr := "udp4", "ip4:icmp", "0.0.0.0"
		if v6 {
			network, rawNet, rawAddr = "udp6", "ip6:ipv6-icmp", "::"
		}
		if raw, err = icmp.ListenPacket(rawNet, rawAddr); err != nil {
			return err
		}
		uc, err = net.ListenPacket(network, ":0")
		return err
	})
	if err != nil {
		return icmpReply{}, err
	}
	defer raw.Close()
	defer uc.Close()
	sc, err := uc.(*net.UDPConn).SyscallConn()
	if err != nil {
		return icmpReply{}, err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		// PROBE sets DF (IPv6: never fragments) and ignores the cached path
		// MTU, so every run sends the full size again.
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
		}
	}); err != nil || serr != nil {
		return icmpReply{}, fmt.Errorf("setsockopt: %v %v", err, serr)
	}
	hdr := 20 + 8
	if v6 {
		hdr = 40 + 8
		err = ipv6.NewPacketConn(uc).SetHopLimit(ttl)
	} else {
		err = ipv4.NewPacketConn(uc).SetTTL(ttl)
	}
	if err != nil {
		return icmpReply{}, err
	}
	const dport = 33434
	if _, err := uc.WriteTo(make([]byte, size-hdr), &net.UDPAddr{IP: dst.AsSlice(), Port: dport}); err != nil {
		return icmpReply{}, fmt.Errorf("send: %w", err)
	}
	sport := uc.LocalAddr().(*net.UDPAddr).Port
	deadline, _ := ctx.Deadline()
	raw.SetReadDeadline(deadline)
	buf := make([]byte, 2048)
	for {
		k, from, err := raw.ReadFrom(buf)
		if err != nil {
			return icmpReply{}, fmt.Errorf("no ICMP error for the probe: %w", err)
		}
		r, ok := parseICMPError(buf[:k], v6, dst, sport, dport)
		if !ok {
			continue
		}
		r.Src, _ = netip.AddrFromSlice(from.(*net.IPAddr).IP)
		r.Src = r.Src.Unmap()
		return r, nil
	}
}

// parseICMPError reads an ICMP error message and checks that the datagram
// it quotes is our probe (UDP from sport to dst:dport).
func parseICMPError(b []byte, v6 bool, dst netip.Addr, sport, dport int) (icmpReply, bool) {
	if len(b) < 8 {
		return icmpReply{}, false
	}
	r := icmpReply{Type: int(b[0]), Code: int(b[1])}
	inner := b[8:]
	var proto int
	var idst netip.Addr
	var l4 []byte
	if v6 {
		if r.Type != 1 && r.Type != 2 && r.Type != 3 {
			return r, false
		}
		if r.Type == 2 {
			r.MTU = int(binary.BigEndian.Uint32(b[4:8]))
		}
		if len(inner) < 48 {
			return r, false
		}
		proto = int(inner[6])
		idst = netip.AddrFrom16([16]byte(inner[24:40]))
		l4 = inner[40:]
	} else {
		if r.Type != 3 && r.Type != 11 {
			return r, false
		}
		if r.Type == 3 && r.Code == 4 {
			r.MTU = int(binary.BigEndian.Uint16(b[6:8]))
		}
		if len(inner) < 28 {
			return r, false
		}
		ihl := int(inner[0]&0x0f) * 4
		if len(inner) < ihl+8 {
			return r, false
		}
		proto = int(inner[9])
		idst = netip.AddrFrom4([4]byte(inner[16:20]))
		l4 = inner[ihl:]
	}
	ok := proto == 17 && idst == dst &&
		int(binary.BigEndian.Uint16(l4[0:2])) == sport &&
		int(binary.BigEndian.Uint16(l4[2:4])) == dport
	return r, ok
}

func TestChainKernelICMP(t *testing.T) {
	needRoot(t)
	l := up(t, loadChain(t))
	client := l.Node("client")

	for _, dst := range []string{"203.0.113.2", "2001:db8:2::2"} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		if _, err := client.Ping(ctx, netip.MustParseAddr(dst)); err != nil {
			t.Errorf("ping client -> server %s: %v", dst, err)
		}
		cancel()
	}

	tests := []struct {
		name      string
		dst       string
		ttl, size int
		want      icmpReply
	}{
		{"v4 ttl 1: time exceeded from r1", "203.0.113.2", 1, 100,
			icmpReply{Type: 11, Code: 0, Src: netip.MustParseAddr("198.51.100.1")}},
		{"v4 ttl 2: time exceeded from r2", "203.0.113.2", 2, 100,
			icmpReply{Type: 11, Code: 0, Src: netip.MustParseAddr("198.51.100.66")}},
		{"v4 1500 DF: frag needed mtu 1400 from r1", "203.0.113.2", 64, 1500,
			icmpReply{Type: 3, Code: 4, MTU: 1400, Src: netip.MustParseAddr("198.51.100.1")}},
		{"v6 hop limit 1: time exceeded from r1", "2001:db8:2::2", 1, 100,
			icmpReply{Type: 3, Code: 0, Src: netip.MustParseAddr("2001:db8:1::1")}},
		{"v6 hop limit 2: time exceeded from r2", "2001:db8:2::2", 2, 100,
			icmpReply{Type: 3, Code: 0, Src: netip.MustParseAddr("2001:db8:12::2")}},
		{"v6 1500: packet too big mtu 1400 from r1", "2001:db8:2::2", 64, 1500,
			icmpReply{Type: 2, Code: 0, MTU: 1400, Src: netip.MustParseAddr("2001:db8:1::1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			got, err := probeUDP(ctx, client, netip.MustParseAddr(tc.dst), tc.ttl, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPTBBlackholeAndLinkDown(t *testing.T) {
	needRoot(t)
	l := up(t, loadChain(t))
	client := l.Node("client")
	if err := l.Node("r1").BlackholePTB(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"203.0.113.2", "2001:db8:2::2"} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		r, err := probeUDP(ctx, client, netip.MustParseAddr(dst), 64, 1500)
		cancel()
		if err == nil {
			t.Errorf("%s: PTB black hole on r1, yet the client got %+v", dst, r)
		}
		// Small packets still pass: only the ICMP is lost, not the path.
		ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
		if _, err := client.Ping(ctx, netip.MustParseAddr(dst)); err != nil {
			t.Errorf("ping %s through the black hole: %v", dst, err)
		}
		cancel()
	}

	if err := l.SetLinkUp(t.Context(), "r2", "r1", false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := client.Ping(ctx, netip.MustParseAddr("203.0.113.2"))
	cancel()
	if err == nil {
		t.Error("ping across a link set down got a reply")
	}
	if err := l.SetLinkUp(t.Context(), "r1", "r2", true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for _, dst := range []string{"203.0.113.2", "2001:db8:2::2"} {
		if _, err := client.Ping(ctx, netip.MustParseAddr(dst)); err != nil {
			t.Errorf("ping %s after the link came back: %v", dst, err)
		}
	}
}

func TestLoss(t *testing.T) {
	needRoot(t)
	l := up(t, &Topology{
		Name:  "loss",
		Nodes: []Node{{Name: "a"}, {Name: "lossy"}, {Name: "clean"}},
		Links: []Link{
			{A: Endpoint{Node: "a", Addrs: []string{"198.51.100.1/30", "2001:db8::1/64"}},
				B:    Endpoint{Node: "lossy", Addrs: []string{"198.51.100.2/30", "2001:db8::2/64"}},
				Loss: 100},
			{A: Endpoint{Node: "a", Addrs: []string{"203.0.113.1/30"}},
				B: Endpoint{Node: "clean", Addrs: []string{"203.0.113.2/30"}}},
		},
	})
	a := l.Node("a")
	ping := func(dst string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		_, err := a.Ping(ctx, netip.MustParseAddr(dst))
		return err
	}
	if err := ping("203.0.113.2", 2*time.Second); err != nil {
		t.Errorf("loss 0: ping failed: %v", err)
	}
	for _, dst := range []string{"198.51.100.2", "2001:db8::2"} {
		if err := ping(dst, 500*time.Millisecond); err == nil {
			t.Errorf("loss 100: ping %s got a reply", dst)
		}
	}
	if err := l.SetLoss(t.Context(), "a", "lossy", 0); err != nil {
		t.Fatal(err)
	}
	if err := ping("198.51.100.2", 2*time.Second); err != nil {
		t.Errorf("loss set to 0 at run time: ping failed: %v", err)
	}
	if err := l.SetLoss(t.Context(), "lossy", "a", 100); err != nil {
		t.Fatal(err)
	}
	if err := ping("198.51.100.2", 500*time.Millisecond); err == nil {
		t.Errorf("loss set to 100 at run time: ping got a reply")
	}
}

func TestAnycastExampleAndImpairments(t *testing.T) {
	needRoot(t)
	topo, err := Load("../examples/lab/anycast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := up(t, topo)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	// The VIP answers from pop1, the static route's target.
	if _, err := l.Node("client").Ping(ctx, netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Errorf("ping VIP: %v", err)
	}
	out, err := l.Node("edge").Run(ctx, "tc", "qdisc", "show", "dev", "eth2")
	if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate 100Mbit") {
		t.Errorf("edge eth2 has no 100Mbit tbf: %v\n%s", err, out)
	}
	out, err = l.Node("pop2").Run(ctx, "nft", "list", "ruleset")
	if err != nil || !strings.Contains(string(out), "numgen random mod 100 < 1 drop") || !strings.Contains(string(out), `device "eth0"`) {
		t.Errorf("pop2 has no 1%% loss rule on eth0: %v\n%s", err, out)
	}
}

func TestDelayNeedsNetem(t *testing.T) {
	needRoot(t)
	topo := twoNodes()
	topo.Links[0].Delay = 20 * time.Millisecond
	l, err := Up(t.Context(), topo, Options{})
	if err == nil {
		// A kernel with netem: the delay must really be there.
		defer l.Close()
		out, err := l.Node("a").Run(t.Context(), "tc", "qdisc", "show", "dev", "eth0")
		if err != nil || !strings.Contains(string(out), "netem") || !strings.Contains(string(out), "delay 20ms") {
			t.Errorf("delay asked, no netem delay on eth0: %v\n%s", err, out)
		}
		return
	}
	if !errors.Is(err, ErrNoNetem) {
		t.Fatalf("Up with delay: %v, want ErrNoNetem", err)
	}
	failed := fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), labSeq.Load())
	nss, _ := Namespaces()
	for _, ns := range nss {
		if strings.HasPrefix(ns, failed) {
			t.Errorf("failed Up left namespace %s", ns)
		}
	}
}

// BenchmarkUpClose measures building and tearing down the four-node chain,
// the fixed cost every lab test pays.
func BenchmarkUpClose(b *testing.B) {
	needRoot(b)
	topo, err := Load("../examples/lab/chain.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		l, err := Up(b.Context(), topo, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
