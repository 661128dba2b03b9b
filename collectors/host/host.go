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

// Socket is one TCP socket with port 179 at either end.
type Socket struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// State is the kernel's TCP state name ("ESTABLISHED", "LISTEN", ...).
	State string `json:"state"`
	Inode uint64 `json:"inode"`
	// PID owns the socket when it is one of Facts.Daemons, else 0.
	PID int `json:"pid,omitempty"`
}

// Process is a running BGP speaker.
type Process struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
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
	if f.Daemons, err = findDaemons(c.opts.ProcRoot); err != nil {
		return Facts{}, err
	}
	if f.Sockets, err = bgpSockets(c.opts.ProcRoot, f.Daemons); err != nil {
		return Facts{}, err
	}
	return f, nil
}
