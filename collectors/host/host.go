// Package host reads the facts an anycast node depends on: kernel release,
// forwarding and ECMP sysctls, socket buffer limits, the anycast addresses
// and the interfaces holding them, interface MTUs, and the BGP daemon with
// its TCP/179 sockets. It reports facts; analyzers/thresholds compares them
// with Requirements.
package host

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/anydiag/anydiag/collectors/link"
)

// Requirements are the node's own inputs the checks need, taken from the
// agent configuration by the caller: the anycast addresses, where they live,
// and the encapsulations whose headers must fit the interface MTUs.
type Requirements struct {
	// AnycastAddresses must each be configured as a host route (/32, /128).
	AnycastAddresses []netip.Addr
	// AnycastInterface is where they must be; empty accepts lo or any dummy
	// interface.
	AnycastInterface string
	// Encapsulations carried by this node.
	Encapsulations []Encapsulation
}

// Address is one interface address.
type Address struct {
	Interface string       `json:"interface"`
	Prefix    netip.Prefix `json:"prefix"`
}

// Socket is one TCP socket with a BGP port (Options.BGPPorts) at either end.
type Socket struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// State is the kernel's TCP state name ("ESTABLISHED", "LISTEN", ...).
	State string `json:"state"`
	Inode uint64 `json:"inode"`
	// PID owns the socket when it is one of Facts.Daemons, else 0.
	PID int `json:"pid,omitempty"`
	// NetNS is the network namespace the socket lives in ("net:[inode]"),
	// "" when unknown.
	NetNS string `json:"netns,omitempty"`
}

// Process is a running BGP speaker.
type Process struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
	// NetNS is the process's network namespace ("net:[inode]"), "" when
	// unknown. A daemon in another namespace than the collector's is
	// counted with the sockets of its own namespace.
	NetNS string `json:"netns,omitempty"`
}

// Facts is everything one Collect read.
type Facts struct {
	At            time.Time `json:"at"`
	KernelRelease string    `json:"kernel_release"`
	// Sysctls maps dotted names (net.ipv4.ip_forward) to their values;
	// a key the kernel does not have is absent.
	Sysctls    map[string]string `json:"sysctls"`
	Interfaces []link.Interface  `json:"interfaces"`
	Addresses  []Address         `json:"addresses"`
	Daemons    []Process         `json:"bgp_daemons"`
	Sockets    []Socket          `json:"bgp_sockets"`
	// BGPPorts are the TCP ports that made a socket a BGP socket.
	BGPPorts []uint16 `json:"bgp_ports"`
	// NetNS is the collector's own network namespace, "" when unknown.
	NetNS string `json:"netns,omitempty"`
}

// Sysctls is the list of settings Collect reads.
var Sysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv4.fib_multipath_hash_policy",
	"net.ipv6.conf.all.forwarding",
	"net.ipv6.fib_multipath_hash_policy",
	"net.core.rmem_max",
	"net.core.wmem_max",
}

// Options configure a Collector.
type Options struct {
	// ProcRoot is procfs, "/proc" when empty.
	ProcRoot string
	// Now stamps facts; time.Now when nil.
	Now func() time.Time
	// BGPPorts are the TCP ports BGP sessions use on this node: a socket
	// with one of them at either end is a BGP socket. Empty means 179; a
	// speaker listening on, or dialling, another port lists it here.
	BGPPorts []uint16
	// SpeakerPIDs are processes known to run a BGP speaker whatever their
	// name, such as the agent itself with its embedded speaker.
	SpeakerPIDs []int
}

// Collector reads host facts. Netlink sockets and /proc/sys/net and
// /proc/thread-self/net files are opened on each Collect in the calling
// thread's network namespace (see collectors/host/netns).
type Collector struct {
	opts Options
}

// New returns a Collector.
func New(opts Options) *Collector {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.BGPPorts) == 0 {
		opts.BGPPorts = []uint16{179}
	}
	return &Collector{opts: opts}
}

// Collect reads every fact once.
func (c *Collector) Collect() (Facts, error) {
	f, err := c.collectProc()
	if err != nil {
		return Facts{}, err
	}
	ls, err := link.New(link.Options{SkipEthtool: true}).Collect()
	if err != nil {
		return Facts{}, fmt.Errorf("host: %w", err)
	}
	f.Interfaces = ls.Interfaces
	if f.Addresses, err = dumpAddrs(ls.Interfaces); err != nil {
		return Facts{}, err
	}
	return f, nil
}

// collectProc reads what comes from procfs, so fixture trees can test it.
func (c *Collector) collectProc() (Facts, error) {
	f := Facts{At: c.opts.Now(), Sysctls: map[string]string{}}
	rel, err := readTrim(c.opts.ProcRoot, "sys/kernel/osrelease")
	if err != nil {
		return Facts{}, fmt.Errorf("host: kernel release: %w", err)
	}
	f.KernelRelease = rel
	for _, k := range Sysctls {
		if v, err := readTrim(c.opts.ProcRoot, sysctlPath(k)); err == nil {
			f.Sysctls[k] = v
		}
	}
	f.BGPPorts = append([]uint16(nil), c.opts.BGPPorts...)
	f.NetNS = ownNetNS(c.opts.ProcRoot)
	if f.Daemons, err = findDaemons(c.opts.ProcRoot, c.opts.SpeakerPIDs); err != nil {
		return Facts{}, err
	}
	if f.Sockets, err = bgpSockets(c.opts.ProcRoot, f.NetNS, f.Daemons, f.BGPPorts); err != nil {
		return Facts{}, err
	}
	return f, nil
}
