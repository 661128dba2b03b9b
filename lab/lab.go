// Package lab builds network-namespace labs for tests and demos: nodes are
// network namespaces, links are veth pairs with real MTUs, addresses and
// routes, impairments come from tc tbf (rate) and nftables (loss), and real
// daemons (FRR bgpd, BIRD, gobgpd) run inside the nodes.
//
// Every namespace a lab makes is named adl<PID>-<N>-<node>, PID being the
// creating process and N the lab's number within it, so that labs of
// parallel test binaries never touch each other and CleanupStale can remove
// what a killed process left behind.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StateDir holds one JSON state file per running lab, so that other
// processes (`anydiag lab exec`, CleanupStale) can find its owner, its
// nodes and its temporary directory.
const StateDir = "/run/anydiag-lab"

// Prefix starts the name of every namespace a lab creates.
const Prefix = "adl"

// Options tune Up.
type Options struct {
	// TempDir is the parent of the lab's temporary directory (logs, daemon
	// configs and sockets); empty means os.TempDir().
	TempDir string
	// Logger receives progress at debug level; nil means slog.Default().
	Logger *slog.Logger
}

// Lab is a running topology. Close it when done.
type Lab struct {
	topo   Topology
	id     string
	nodes  []*Node
	byName map[string]*Node
	tmp    string
	state  string
	log    *slog.Logger

	mu     sync.Mutex
	procs  []*Process
	closed bool
}

// Iface is an interface of a running node.
type Iface struct {
	Name string `json:"name"`
	// Peer and PeerIface name the other end of the veth pair.
	Peer      string   `json:"peer"`
	PeerIface string   `json:"peer_iface"`
	Addrs     []string `json:"addrs,omitempty"`
	MTU       int      `json:"mtu"`
}

var labSeq atomic.Int64

// Up builds topo: it removes stale labs first (CleanupStale), then creates
// the namespaces, links, addresses, routes, sysctls and impairments. On
// error everything made so far is removed.
func Up(ctx context.Context, topo *Topology, opts Options) (*Lab, error) {
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("lab: invalid topology: %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("lab: the ip command (iproute2) is needed: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if removed, err := CleanupStale(); err != nil {
		log.Warn("lab: removing stale labs", "err", err)
	} else if len(removed) > 0 {
		log.Info("lab: removed stale namespaces", "namespaces", removed)
	}
	id := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), labSeq.Add(1))
	tmp, err := os.MkdirTemp(opts.TempDir, id+"-*")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// Daemons that drop privileges (bgpd runs as frr) need to reach their
	// folders below this one.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{topo: cloneTopology(topo), id: id, tmp: tmp, log: log, byName: map[string]*Node{}}
	for i := range l.topo.Nodes {
		n := &l.topo.Nodes[i]
		n.lab = l
		n.ns = id + "-" + n.Name
		l.nodes = append(l.nodes, n)
		l.byName[n.Name] = n
	}
	names := l.topo.ifaceNames()
	for i := range l.topo.Links {
		// The description kept is the one built: derived names filled in.
		l.topo.Links[i].A.Iface, l.topo.Links[i].B.Iface = names[i][0], names[i][1]
	}
	for i, lk := range l.topo.Links {
		mtu := lk.MTU
		if mtu == 0 {
			mtu = 1500
		}
		a, b := l.byName[lk.A.Node], l.byName[lk.B.Node]
		a.ifaces = append(a.ifaces, Iface{Name: names[i][0], Peer: b.Name, PeerIface: names[i][1], Addrs: lk.A.Addrs, MTU: mtu})
		b.ifaces = append(b.ifaces, Iface{Name: names[i][1], Peer: a.Name, PeerIface: names[i][0], Addrs: lk.B.Addrs, MTU: mtu})
	}
	if err := l.writeState(); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.build(ctx, names); err != nil {
		l.Close()
		return nil, fmt.Errorf("lab %s: %w", id, err)
	}
	log.Debug("lab: up", "lab", id, "nodes", len(l.nodes), "links", len(l.topo.Links))
	return l, nil
}

func cloneTopology(t *Topology) Topology {
	c := Topology{Name: t.Name}
	for _, n := range t.Nodes {
		n.lab, n.ns, n.ifaces = nil, "", nil
		n.Loopback = append([]string(nil), n.Loopback...)
		n.Routes = append([]Route(nil), n.Routes...)
		sc := make(map[string]string, len(n.Sysctls))
		for k, v := range n.Sysctls {
			sc[k] = v
		}
		n.Sysctls = sc
		c.Nodes = append(c.Nodes, n)
	}
	for _, lk := range t.Links {
		lk.A.Addrs = append([]string(nil), lk.A.Addrs...)
		lk.B.Addrs = append([]string(nil), lk.B.Addrs...)
		c.Links = append(c.Links, lk)
	}
	return c
}

func (l *Lab) build(ctx context.Context, names [][2]string) error {
	var b strings.Builder
	for _, n := range l.nodes {
		fmt.Fprintf(&b, "netns add %s\n", n.ns)
	}
	if err := ipBatch(ctx, "", b.String()); err != nil {
		return fmt.Errorf("creating namespaces: %w", err)
	}
	needNetem := false
	for _, lk := range l.topo.Links {
		needNetem = needNetem || lk.Delay > 0
	}
	if needNetem {
		if err := probeNetem(ctx, l.nodes[0].ns); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := n.applySysctls(); err != nil {
			return err
		}
	}
	b.Reset()
	for i, lk := range l.topo.Links {
		a, z := l.byName[lk.A.Node], l.byName[lk.B.Node]
		fmt.Fprintf(&b, "link add %s netns %s type veth peer name %s netns %s\n", names[i][0], a.ns, names[i][1], z.ns)
	}
	if b.Len() > 0 {
		if err := ipBatch(ctx, "", b.String()); err != nil {
			return fmt.Errorf("creating links: %w", err)
		}
	}
	// Links come up everywhere before routes go in, so that every gateway
	// is on a connected, carrier-up subnet when its route is added.
	for _, n := range l.nodes {
		if err := ipBatch(ctx, n.ns, n.linkBatch()); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	for _, n := range l.nodes {
		if len(n.Routes) == 0 {
			continue
		}
		if err := n.replaceRoutes(ctx); err != nil {
			return fmt.Errorf("node %s: routes: %w", n.Name, err)
		}
	}
	for i, lk := range l.topo.Links {
		for s, ep := range []Endpoint{lk.A, lk.B} {
			n := l.byName[ep.Node]
			if err := applyImpairments(ctx, n.ns, names[i][s], lk); err != nil {
				return fmt.Errorf("link %s-%s: node %s: %w", lk.A.Node, lk.B.Node, n.Name, err)
			}
		}
	}
	return nil
}

func (n *Node) applySysctls() error {
	set := [][2]string{
		// Addresses are usable at once: no duplicate address detection.
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		// IPv6 addresses survive a link going down, as IPv4 ones do, so
		// SetLinkUp can cut and restore a link.
		{"net.ipv6.conf.all.keep_addr_on_down", "1"},
		{"net.ipv6.conf.default.keep_addr_on_down", "1"},
	}
	if n.Forwarding {
		set = append(set, [2]string{"net.ipv4.ip_forward", "1"}, [2]string{"net.ipv6.conf.all.forwarding", "1"})
	}
	keys := make([]string, 0, len(n.Sysctls))
	for k := range n.Sysctls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set = append(set, [2]string{k, n.Sysctls[k]})
	}
	return n.Do(func() error {
		for _, kv := range set {
			p := "/proc/sys/" + strings.ReplaceAll(kv[0], ".", "/")
			if err := os.WriteFile(p, []byte(kv[1]+"\n"), 0o644); err != nil {
				return fmt.Errorf("node %s: sysctl %s=%s: %w", n.Name, kv[0], kv[1], err)
			}
		}
		return nil
	})
}

func (n *Node) linkBatch() string {
	var b strings.Builder
	b.WriteString("link set lo up\n")
	for _, a := range n.Loopback {
		fmt.Fprintf(&b, "addr add %s dev lo%s\n", a, nodad(a))
	}
	for _, i := range n.ifaces {
		fmt.Fprintf(&b, "link set %s mtu %d up\n", i.Name, i.MTU)
		for _, a := range i.Addrs {
			fmt.Fprintf(&b, "addr add %s dev %s%s\n", a, i.Name, nodad(a))
		}
	}
	return b.String()
}

// replaceRoutes installs the node's static routes, retrying while the
// kernel has not yet seen carrier on a fresh or re-enabled veth (gateways
// on it are unreachable until then, notably for IPv6).
func (n *Node) replaceRoutes(ctx context.Context) error {
	return WaitFor(ctx, 5*time.Second, 20*time.Millisecond, func() (bool, error) {
		err := ipBatch(ctx, n.ns, n.routeBatch("replace"))
		return err == nil, err
	})
}

// routeBatch lists the node's static routes for ip -batch, verb being add or replace.
func (n *Node) routeBatch(verb string) string {
	var b strings.Builder
	for _, r := range n.Routes {
		to := r.To
		if to == "default" {
			// ip infers the family from the prefix, not from the gateway.
			to = "0.0.0.0/0"
			if a, err := netip.ParseAddr(r.Via); err == nil && a.Is6() {
				to = "::/0"
			}
		}
		fmt.Fprintf(&b, "route %s %s", verb, to)
		if r.Via != "" {
			fmt.Fprintf(&b, " via %s", r.Via)
		}
		if r.Dev != "" {
			fmt.Fprintf(&b, " dev %s", r.Dev)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func nodad(prefix string) string {
	if p, err := netip.ParsePrefix(prefix); err == nil && p.Addr().Is6() {
		return " nodad"
	}
	return ""
}

// ipBatch feeds commands to `ip -batch -`, inside namespace ns if not empty.
func ipBatch(ctx context.Context, ns, cmds string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	_, err := runCmd(ctx, cmds, "ip", args...)
	return err
}

// runCmd runs a command with stdin, returning its combined output; the
// output is part of the error when it fails.
func runCmd(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// ID is the lab's identifier, adl<PID>-<N>, the prefix of its namespaces.
func (l *Lab) ID() string { return l.id }

// TempDir is the lab's temporary directory (logs, configs, sockets), removed by Close.
func (l *Lab) TempDir() string { return l.tmp }

// Topology returns the description the lab was built from.
func (l *Lab) Topology() Topology { return cloneTopology(&l.topo) }

// Node returns the running node called name, or nil.
func (l *Lab) Node(name string) *Node { return l.byName[name] }

// Nodes returns the running nodes in topology order.
func (l *Lab) Nodes() []*Node { return append([]*Node(nil), l.nodes...) }

// Namespace is the network namespace's name (for `ip netns exec`).
func (n *Node) Namespace() string { return n.ns }

// Ifaces lists the node's veth interfaces in link order.
func (n *Node) Ifaces() []Iface { return append([]Iface(nil), n.ifaces...) }

// Info describes a running lab for people and JSON output.
type Info struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	TempDir string     `json:"temp_dir"`
	Nodes   []NodeInfo `json:"nodes"`
	// Links are the topology's links with interface names filled in.
	Links []Link `json:"links"`
}

// NodeInfo describes a running node.
type NodeInfo struct {
	Name       string   `json:"name"`
	Namespace  string   `json:"namespace"`
	Forwarding bool     `json:"forwarding"`
	Loopback   []string `json:"loopback,omitempty"`
	Ifaces     []Iface  `json:"ifaces"`
	Routes     []Route  `json:"routes,omitempty"`
}

// Info returns the lab as built, with derived interface names and namespaces.
func (l *Lab) Info() Info {
	in := Info{ID: l.id, Name: l.topo.Name, TempDir: l.tmp, Links: l.Topology().Links}
	for _, n := range l.nodes {
		in.Nodes = append(in.Nodes, NodeInfo{
			Name: n.Name, Namespace: n.ns, Forwarding: n.Forwarding,
			Loopback: n.Loopback, Ifaces: n.Ifaces(), Routes: n.Routes,
		})
	}
	return in
}

// state is the JSON file in StateDir that lets other processes find a lab.
type state struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	PID        int               `json:"pid"`
	StartTicks uint64            `json:"start_ticks"`
	TempDir    string            `json:"temp_dir"`
	Namespaces map[string]string `json:"namespaces"`
}

func (l *Lab) writeState() error {
	_, ticks, err := procStat(os.Getpid())
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	st := state{ID: l.id, Name: l.topo.Name, PID: os.Getpid(), StartTicks: ticks, TempDir: l.tmp, Namespaces: map[string]string{}}
	for _, n := range l.nodes {
		st.Namespaces[n.Name] = n.ns
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: state: %w", err)
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("lab: state: %w", err)
	}
	l.state = filepath.Join(StateDir, l.id+".json")
	if err := os.WriteFile(l.state, b, 0o644); err != nil {
		return fmt.Errorf("lab: state: %w", err)
	}
	return nil
}

// Close stops every process started in the lab (SIGTERM to its process
// group, SIGKILL after a bounded wait), kills anything else left in its
// namespaces, deletes the namespaces and removes the temporary directory.
// It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	l.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop()
		}()
	}
	wg.Wait()
	var nss []string
	for _, n := range l.nodes {
		nss = append(nss, n.ns)
	}
	if err := removeNamespaces(nss); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(l.tmp); err != nil {
		errs = append(errs, err)
	}
	if l.state != "" {
		if err := os.Remove(l.state); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s: close: %w", l.id, err)
	}
	return nil
}

func (l *Lab) addProcess(p *Process) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab is closed")
	}
	l.procs = append(l.procs, p)
	return nil
}

// stopTimeout bounds how long a process gets between SIGTERM and SIGKILL.
const stopTimeout = 5 * time.Second
