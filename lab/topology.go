package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Topology describes a lab: nodes (each one network namespace) joined by
// point-to-point veth links. It is loaded from YAML with Load or built in Go.
type Topology struct {
	// Name labels the lab in `anydiag lab` output and state files.
	Name  string `yaml:"name" json:"name"`
	Nodes []Node `yaml:"nodes" json:"nodes"`
	Links []Link `yaml:"links" json:"links"`
}

// Node describes one network namespace.
type Node struct {
	// Name is the node's name inside the topology: a letter followed by
	// letters, digits, '_' or '-', at most 32 characters.
	Name string `yaml:"name" json:"name"`
	// Forwarding turns on IPv4 and IPv6 forwarding in the node.
	Forwarding bool `yaml:"forwarding,omitempty" json:"forwarding,omitempty"`
	// Loopback holds prefixes put on lo, such as an anycast VIP 192.0.2.1/32.
	Loopback []string `yaml:"loopback,omitempty" json:"loopback,omitempty"`
	// Routes are static routes installed after the links are up.
	Routes []Route `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Sysctls are set in the node's namespace before its links are created,
	// keyed by dotted name (net.ipv4.icmp_ratelimit). Only net.* keys are
	// namespaced, so only those are accepted.
	Sysctls map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`

	// A Node returned by (*Lab).Node is live: these tie it to its namespace.
	lab    *Lab
	ns     string
	ifaces []Iface
}

// Route is a static route in a node.
type Route struct {
	// To is a prefix or "default" (the family is then taken from Via).
	To string `yaml:"to" json:"to"`
	// Via is the gateway address; empty for a device route (Dev required).
	Via string `yaml:"via,omitempty" json:"via,omitempty"`
	// Dev is the outgoing interface, optional with Via.
	Dev string `yaml:"dev,omitempty" json:"dev,omitempty"`
}

// Endpoint is one end of a link.
type Endpoint struct {
	Node string `yaml:"node" json:"node"`
	// Iface is the interface name in the node; empty means eth<k>, k being
	// the number of links listed before this one that touch the node.
	Iface string   `yaml:"iface,omitempty" json:"iface,omitempty"`
	Addrs []string `yaml:"addrs,omitempty" json:"addrs,omitempty"`
}

// Link is a veth pair between two nodes, with optional impairments applied
// to the egress of both ends (so each direction sees them).
type Link struct {
	A   Endpoint `yaml:"a" json:"a"`
	B   Endpoint `yaml:"b" json:"b"`
	MTU int      `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	// Delay needs tc netem; Up fails with ErrNoNetem where the kernel lacks it.
	Delay time.Duration `yaml:"delay,omitempty" json:"delay_ns,omitempty"`
	// Loss is the percentage (0-100) of packets dropped in each direction.
	Loss int `yaml:"loss,omitempty" json:"loss,omitempty"`
	// Rate limits each direction with tc tbf: "10mbit", "512kbit", "1gbit".
	Rate string `yaml:"rate,omitempty" json:"rate,omitempty"`
}

// Load reads a topology from a YAML file.
func Load(path string) (*Topology, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes a YAML topology strictly (unknown keys are errors with their
// line number) and validates it.
func Parse(r io.Reader) (*Topology, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var t Topology
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty topology")
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("yaml: more than one document")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// ParseBytes is Parse on a byte slice.
func ParseBytes(b []byte) (*Topology, error) { return Parse(bytes.NewReader(b)) }

var (
	nodeNameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
	ifaceNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)
	sysctlRE    = regexp.MustCompile(`^net\.[A-Za-z0-9_.-]+$`)
	rateRE      = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$`)
)

// Validate checks names, addresses, routes and impairments, and fills in
// nothing: derived interface names are computed by Up.
func (t *Topology) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(t.Nodes) == 0 {
		bad("no nodes")
	}
	nodes := map[string]*Node{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if !nodeNameRE.MatchString(n.Name) {
			bad("node %d: bad name %q: want a letter then letters, digits, '_' or '-', at most 32", i, n.Name)
			continue
		}
		if nodes[n.Name] != nil {
			bad("node %q: duplicate name", n.Name)
			continue
		}
		nodes[n.Name] = n
		for _, a := range n.Loopback {
			if _, err := netip.ParsePrefix(a); err != nil {
				bad("node %q: loopback %q: not a CIDR prefix", n.Name, a)
			}
		}
		for k := range n.Sysctls {
			if !sysctlRE.MatchString(k) {
				bad("node %q: sysctl %q: only net.* sysctls are per namespace", n.Name, k)
			}
		}
	}
	ifaces := t.ifaceNames()
	seenIface := map[string]bool{}
	for i, l := range t.Links {
		for s, e := range []Endpoint{l.A, l.B} {
			where := fmt.Sprintf("link %d (%s-%s) side %s", i, l.A.Node, l.B.Node, [2]string{"a", "b"}[s])
			if nodes[e.Node] == nil {
				bad("%s: unknown node %q", where, e.Node)
				continue
			}
			if e.Iface != "" && !ifaceNameRE.MatchString(e.Iface) {
				bad("%s: bad interface name %q: at most 15 characters, starting with a letter", where, e.Iface)
			}
			name := ifaces[i][s]
			if name == "lo" {
				bad("%s: interface name lo is reserved", where)
			}
			key := e.Node + "/" + name
			if seenIface[key] {
				bad("%s: duplicate interface %s on node %q", where, name, e.Node)
			}
			seenIface[key] = true
			for _, a := range e.Addrs {
				if _, err := netip.ParsePrefix(a); err != nil {
					bad("%s: address %q: not a CIDR prefix (198.51.100.1/24, 2001:db8::1/64)", where, a)
				}
			}
		}
		if l.A.Node == l.B.Node && l.A.Node != "" {
			bad("link %d: both ends on node %q", i, l.A.Node)
		}
		if l.MTU != 0 && (l.MTU < 68 || l.MTU > 65535) {
			bad("link %d: mtu %d out of range 68-65535", i, l.MTU)
		}
		if l.Loss < 0 || l.Loss > 100 {
			bad("link %d: loss %d%% out of range 0-100", i, l.Loss)
		}
		if l.Delay < 0 {
			bad("link %d: negative delay %v", i, l.Delay)
		}
		if l.Rate != "" {
			if _, err := parseRateBits(l.Rate); err != nil {
				bad("link %d: %v", i, err)
			}
		}
	}
	for _, n := range t.Nodes {
		for j, r := range n.Routes {
			if err := validateRoute(r, n.Name, seenIface); err != nil {
				bad("node %q: route %d: %v", n.Name, j, err)
			}
		}
	}
	return errors.Join(errs...)
}

func validateRoute(r Route, node string, ifaces map[string]bool) error {
	var toV4 *bool
	if r.To != "default" {
		p, err := netip.ParsePrefix(r.To)
		if err != nil {
			return fmt.Errorf("to %q: not a CIDR prefix or \"default\"", r.To)
		}
		v4 := p.Addr().Is4()
		toV4 = &v4
	}
	if r.Via == "" {
		if r.Dev == "" {
			return errors.New("needs via or dev")
		}
		if r.To == "default" {
			return errors.New("a default route needs via (its family comes from it)")
		}
	} else {
		a, err := netip.ParseAddr(r.Via)
		if err != nil {
			return fmt.Errorf("via %q: not an IP address", r.Via)
		}
		if toV4 != nil && *toV4 != a.Is4() {
			return fmt.Errorf("to %s via %s: address families differ", r.To, r.Via)
		}
	}
	if r.Dev != "" && r.Dev != "lo" && !ifaces[node+"/"+r.Dev] {
		return fmt.Errorf("dev %q: no such interface on the node", r.Dev)
	}
	return nil
}

// ifaceNames returns, per link, the interface names of sides A and B:
// the given name, or eth<k> with k counting the node's earlier links.
func (t *Topology) ifaceNames() [][2]string {
	count := map[string]int{}
	out := make([][2]string, len(t.Links))
	for i, l := range t.Links {
		for s, e := range []Endpoint{l.A, l.B} {
			name := e.Iface
			if name == "" {
				name = "eth" + strconv.Itoa(count[e.Node])
			}
			count[e.Node]++
			out[i][s] = name
		}
	}
	return out
}

// parseRateBits converts a tc-style rate into bits per second.
func parseRateBits(s string) (uint64, error) {
	m := rateRE.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return 0, fmt.Errorf("rate %q: want a number and one of bit, kbit, mbit, gbit, bps, kbps, mbps, gbps", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	mult := map[string]float64{
		"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
		"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9,
	}[m[2]]
	bits := v * mult
	if bits < 8 || bits > 1e12 {
		return 0, fmt.Errorf("rate %q: out of range 8bit-1000gbit", s)
	}
	return uint64(bits), nil
}
