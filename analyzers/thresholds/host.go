package thresholds

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/link"
	"github.com/anydiag/anydiag/internal/finding"
)

// Prerequisites reports every host prerequisite f misses, each with the
// command that fixes it in the summary and in evidence["fix"].
func (a *Analyzer) Prerequisites(f host.Facts, req host.Requirements) []finding.Finding {
	var out []finding.Finding
	out = append(out, a.kernel(f)...)
	out = append(out, a.sysctls(f, req)...)
	out = append(out, a.vips(f, req)...)
	out = append(out, a.bgp(f)...)
	out = append(out, a.mtuBudget(f, req)...)
	return out
}

// fixed builds a finding whose summary ends with the fixing command.
func (a *Analyzer) fixed(code, subject, summary, fix string, ev map[string]any) finding.Finding {
	if ev == nil {
		ev = map[string]any{}
	}
	ev["fix"] = fix
	return finding.New(code, subject, summary+"; fix: "+fix, ev, a.now())
}

func (a *Analyzer) kernel(f host.Facts) []finding.Finding {
	major, minor, ok := kernelVersion(f.KernelRelease)
	if !ok {
		return nil
	}
	if major > a.limits.MinKernelMajor || (major == a.limits.MinKernelMajor && minor >= a.limits.MinKernelMinor) {
		return nil
	}
	return []finding.Finding{finding.New("host.kernel_old", "kernel",
		fmt.Sprintf("kernel %s is older than %d.%d", f.KernelRelease, a.limits.MinKernelMajor, a.limits.MinKernelMinor),
		map[string]any{"release": f.KernelRelease}, a.now())}
}

// kernelVersion reads major and minor from a release like "6.1.0-28-amd64".
func kernelVersion(rel string) (int, int, bool) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

func (a *Analyzer) sysctls(f host.Facts, req host.Requirements) []finding.Finding {
	type want struct {
		key   string
		value int64
		least bool // value is a minimum, not an exact value
	}
	wants := []want{{"net.ipv4.ip_forward", 1, false}, {"net.ipv4.fib_multipath_hash_policy", 1, false}}
	for _, addr := range req.AnycastAddresses {
		if addr.Is6() {
			wants = append(wants, want{"net.ipv6.conf.all.forwarding", 1, false}, want{"net.ipv6.fib_multipath_hash_policy", 1, false})
			break
		}
	}
	if a.limits.MinSocketBufferBytes > 0 {
		wants = append(wants, want{"net.core.rmem_max", a.limits.MinSocketBufferBytes, true}, want{"net.core.wmem_max", a.limits.MinSocketBufferBytes, true})
	}
	var out []finding.Finding
	for _, w := range wants {
		got, ok := f.Sysctls[w.key]
		if !ok {
			continue // the kernel has no such setting: nothing to set
		}
		v, err := strconv.ParseInt(got, 10, 64)
		if err == nil && ((w.least && v >= w.value) || (!w.least && v == w.value)) {
			continue
		}
		rel := "want"
		if w.least {
			rel = "want at least"
		}
		out = append(out, a.fixed("host.sysctl", w.key, fmt.Sprintf("%s is %s, %s %d", w.key, got, rel, w.value),
			fmt.Sprintf("sysctl -w %s=%d", w.key, w.value), map[string]any{"value": got, "want": w.value}))
	}
	return out
}

// vips checks that each anycast address is a host route on the anycast
// interface, lo or a dummy interface, which is up.
func (a *Analyzer) vips(f host.Facts, req host.Requirements) []finding.Finding {
	ifs := map[string]link.Interface{}
	for _, i := range f.Interfaces {
		ifs[i.Name] = i
	}
	dev := req.AnycastInterface
	if dev == "" {
		dev = "lo"
	}
	var out []finding.Finding
	iface, ok := ifs[dev]
	if !ok && len(req.AnycastAddresses) > 0 {
		return append(out, a.fixed("host.vip_missing", dev, fmt.Sprintf("anycast interface %s does not exist", dev),
			fmt.Sprintf("ip link add %s type dummy && ip link set dev %s up", dev, dev), nil))
	}
	if ok && !iface.AdminUp && len(req.AnycastAddresses) > 0 {
		out = append(out, a.fixed("host.vip_missing", dev, fmt.Sprintf("anycast interface %s is down", dev),
			fmt.Sprintf("ip link set dev %s up", dev), nil))
	}
	for _, addr := range req.AnycastAddresses {
		hostRoute := fmt.Sprintf("%s/%d", addr, addr.BitLen())
		var found, wrongLen, wrongDev string
		for _, ad := range f.Addresses {
			if ad.Prefix.Addr() != addr {
				continue
			}
			i := ifs[ad.Interface]
			switch {
			case ad.Interface != dev && !i.Loopback && i.Kind != "dummy":
				wrongDev = ad.Interface
			case ad.Prefix.Bits() != addr.BitLen():
				wrongLen = ad.Prefix.String() + " dev " + ad.Interface
			default:
				found = ad.Interface
			}
		}
		switch {
		case found != "":
			continue
		case wrongLen != "":
			out = append(out, a.fixed("host.vip_missing", addr.String(),
				fmt.Sprintf("%s is configured as %s, not as a host route", addr, wrongLen),
				fmt.Sprintf("ip addr del %s && ip addr add %s dev %s", wrongLen, hostRoute, dev), nil))
		case wrongDev != "":
			out = append(out, a.fixed("host.vip_missing", addr.String(),
				fmt.Sprintf("%s is on %s, not on lo or a dummy interface", addr, wrongDev),
				fmt.Sprintf("ip addr del %s dev %s && ip addr add %s dev %s", hostRoute, wrongDev, hostRoute, dev), nil))
		default:
			out = append(out, a.fixed("host.vip_missing", addr.String(),
				fmt.Sprintf("%s is not configured on this node", addr),
				fmt.Sprintf("ip addr add %s dev %s", hostRoute, dev), nil))
		}
	}
	return out
}

// bgp checks that a BGP speaker runs, owns a BGP socket (one of
// f.BGPPorts at either end: a speaker listening on or dialling another port
// than 179 counts) and has at least one session established. Speakers in
// this network namespace are the node's; those in other namespaces (lab
// namespaces, containers) are ignored while one runs here, and judged by the
// sockets of their own namespace when none does (a routing daemon kept in a
// namespace of its own).
func (a *Analyzer) bgp(f host.Facts) []finding.Finding {
	if len(f.Daemons) == 0 {
		return []finding.Finding{finding.New("host.bgp_daemon_missing", "bgp",
			"no BGP speaker process (bgpd, bird, gobgpd, anydiag agent) is running", nil, a.now())}
	}
	var here, elsewhere []host.Process
	for _, d := range f.Daemons {
		if d.NetNS == "" || f.NetNS == "" || d.NetNS == f.NetNS {
			here = append(here, d)
		} else {
			elsewhere = append(elsewhere, d)
		}
	}
	judged, where := here, "in this network namespace"
	if len(here) == 0 {
		judged, where = elsewhere, "in their own network namespaces"
	}
	names := make([]string, 0, len(judged))
	pids := map[int]bool{}
	for _, d := range judged {
		names = append(names, fmt.Sprintf("%s[%d]", d.Name, d.PID))
		pids[d.PID] = true
	}
	var owned, established int
	for _, s := range f.Sockets {
		if !pids[s.PID] {
			continue
		}
		owned++
		if s.State == "ESTABLISHED" {
			established++
		}
	}
	ports := make([]string, 0, len(f.BGPPorts))
	for _, p := range f.BGPPorts {
		ports = append(ports, strconv.Itoa(int(p)))
	}
	if len(ports) == 0 {
		ports = []string{"179"}
	}
	tcp := "TCP/" + strings.Join(ports, ",")
	ev := map[string]any{"daemons": strings.Join(names, ","), "sockets": owned, "established": established,
		"bgp_ports": strings.Join(ports, ",")}
	if len(here) > 0 && len(elsewhere) > 0 {
		var other []string
		for _, d := range elsewhere {
			other = append(other, fmt.Sprintf("%s[%d] in %s", d.Name, d.PID, d.NetNS))
		}
		ev["ignored_in_other_namespaces"] = strings.Join(other, ",")
	}
	switch {
	case owned == 0:
		return []finding.Finding{finding.New("host.bgp_daemon_missing", "bgp",
			fmt.Sprintf("%s run but hold no %s socket %s", strings.Join(names, ", "), tcp, where), ev, a.now()).
			WithSeverity(finding.Warning)}
	case established == 0:
		return []finding.Finding{finding.New("bgp.session_down", "bgp",
			fmt.Sprintf("%s hold %d %s sockets %s but no established session", strings.Join(names, ", "), owned, tcp, where), ev, a.now())}
	}
	return nil
}

// tunnelKinds are link kinds that are overlays, never underlays.
var tunnelKinds = map[string]bool{"vxlan": true, "geneve": true, "gre": true, "gretap": true, "ipip": true,
	"ip6gre": true, "ip6tnl": true, "sit": true, "wireguard": true, "dummy": true, "ifb": true}

// mtuBudget checks that inner packets plus each encapsulation's headers fit
// the underlay's MTU. Without an explicit underlay every up, non-tunnel,
// non-loopback interface is one; without an overlay or inner MTU, tunnel
// interfaces of the same kind give the inner size, else 1500.
func (a *Analyzer) mtuBudget(f host.Facts, req host.Requirements) []finding.Finding {
	var out []finding.Finding
	for _, e := range req.Encapsulations {
		over, err := e.OverheadBytes()
		if err != nil {
			continue // configuration validation reports unknown kinds
		}
		inner, innerFrom := e.InnerMTU, "configured inner MTU"
		for _, i := range f.Interfaces {
			if i.Name == e.Overlay || (e.Overlay == "" && e.InnerMTU == 0 && i.Kind == e.Kind && i.MTU > inner) {
				inner, innerFrom = i.MTU, i.Name
			}
		}
		if inner == 0 {
			inner, innerFrom = 1500, "default inner MTU"
		}
		for _, u := range f.Interfaces {
			if e.Underlay != "" && u.Name != e.Underlay {
				continue
			}
			if e.Underlay == "" && (!u.AdminUp || u.Loopback || tunnelKinds[u.Kind]) {
				continue
			}
			if u.MTU >= inner+over {
				continue
			}
			out = append(out, a.fixed("mtu.mismatch", u.Name+" "+e.Kind,
				fmt.Sprintf("%s MTU %d cannot carry %d-byte packets (%s) plus %d bytes of %s; the inner MTU must be at most %d",
					u.Name, u.MTU, inner, innerFrom, over, e.Kind, u.MTU-over),
				fmt.Sprintf("ip link set dev %s mtu %d", u.Name, inner+over),
				map[string]any{"underlay_mtu": u.MTU, "inner_mtu": inner, "overhead_bytes": over}))
		}
	}
	return out
}
