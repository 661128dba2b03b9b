package gobgp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Families a neighbor may carry.
const (
	FamilyIPv4Unicast = "ipv4-unicast"
	FamilyIPv6Unicast = "ipv6-unicast"
)

// What Stop does with the announced prefixes before it closes the sessions.
const (
	// OnStopWithdraw withdraws every prefix and confirms it (the default).
	OnStopWithdraw = "withdraw"
	// OnStopGracefulShutdown first re-announces every prefix with the RFC
	// 8326 GRACEFUL_SHUTDOWN community, waits ShutdownDrain so upstreams
	// move traffic away, then withdraws.
	OnStopGracefulShutdown = "graceful-shutdown"
)

// Config is the embedded speaker's configuration, as written in the agent's
// YAML file under the speaker key.
type Config struct {
	// ASN is the speaker's own AS number.
	ASN uint32 `yaml:"asn" json:"asn"`
	// RouterID is the BGP identifier, an IPv4 address.
	RouterID yamlconf.Addr `yaml:"router_id" json:"router_id"`
	// ListenPort is the TCP port for incoming sessions: 0 means 179, -1
	// means do not listen (every neighbor is then dialled).
	ListenPort int `yaml:"listen_port,omitempty" json:"listen_port,omitempty"`
	// LocalAddress, if set, is the address to listen on and to dial from.
	LocalAddress yamlconf.Addr `yaml:"local_address" json:"local_address,omitzero"`
	// NextHop and NextHop6 are the next hops announced for IPv4 and IPv6
	// prefixes; unset means the session's own address ("self").
	NextHop  yamlconf.Addr `yaml:"next_hop" json:"next_hop,omitzero"`
	NextHop6 yamlconf.Addr `yaml:"next_hop6" json:"next_hop6,omitzero"`
	// Neighbors are the upstream routers.
	Neighbors []Neighbor `yaml:"neighbors" json:"neighbors"`
	// OnStop is OnStopWithdraw (default) or OnStopGracefulShutdown.
	OnStop string `yaml:"on_stop,omitempty" json:"on_stop,omitempty"`
	// ShutdownDrain is how long graceful shutdown waits between the
	// GRACEFUL_SHUTDOWN announcement and the withdrawal (default 30s).
	ShutdownDrain yamlconf.Duration `yaml:"shutdown_drain,omitempty" json:"shutdown_drain,omitempty"`
}

// Neighbor is one BGP peer.
type Neighbor struct {
	Address yamlconf.Addr `yaml:"address" json:"address"`
	ASN     uint32        `yaml:"asn" json:"asn"`
	// Port is the peer's TCP port (default 179).
	Port uint16 `yaml:"port,omitempty" json:"port,omitempty"`
	// Multihop is the eBGP multihop TTL; 0 means directly connected.
	Multihop uint8 `yaml:"multihop,omitempty" json:"multihop,omitempty"`
	// Passive waits for the peer to connect instead of dialling it.
	Passive bool `yaml:"passive,omitempty" json:"passive,omitempty"`
	// HoldTime is the proposed hold time (default 90s, at least 3s).
	HoldTime yamlconf.Duration `yaml:"hold_time,omitempty" json:"hold_time,omitempty"`
	// ConnectRetry is the wait between connection attempts (default 5s).
	ConnectRetry yamlconf.Duration `yaml:"connect_retry,omitempty" json:"connect_retry,omitempty"`
	// Password enables TCP MD5 signatures (RFC 2385).
	Password string `yaml:"password,omitempty" json:"-"`
	// Families are the address families offered: ipv4-unicast and/or
	// ipv6-unicast (default both).
	Families []string `yaml:"families,omitempty" json:"families,omitempty"`
}

// Check records every semantic problem of c under path (the YAML key path of
// the speaker section, "" at the root).
func (c *Config) Check(p *yamlconf.Problems, path string) { c.check(p, path) }

func (c *Config) check(p *yamlconf.Problems, path string) {
	key := func(k string) string { return yamlconf.Join(path, k) }
	if c.ASN == 0 {
		p.Add(key("asn"), "asn is required (1-4294967295)")
	}
	if !c.RouterID.Is4() {
		p.Add(key("router_id"), "router_id must be an IPv4 address, like 192.0.2.10")
	}
	if c.ListenPort < -1 || c.ListenPort > 65535 {
		p.Add(key("listen_port"), "listen_port %d out of range (-1 to not listen, 0 for 179, or 1-65535)", c.ListenPort)
	}
	if c.NextHop.IsValid() && !c.NextHop.Is4() {
		p.Add(key("next_hop"), "next_hop must be an IPv4 address (use next_hop6 for IPv6)")
	}
	if c.NextHop6.IsValid() && !c.NextHop6.Is6() {
		p.Add(key("next_hop6"), "next_hop6 must be an IPv6 address")
	}
	switch c.OnStop {
	case "", OnStopWithdraw, OnStopGracefulShutdown:
	default:
		p.Add(key("on_stop"), "on_stop %q: want %q or %q", c.OnStop, OnStopWithdraw, OnStopGracefulShutdown)
	}
	if len(c.Neighbors) == 0 {
		p.Add(key("neighbors"), "at least one neighbor is required")
	}
	seen := map[netip.Addr]bool{}
	for i, n := range c.Neighbors {
		nk := fmt.Sprintf("%s[%d]", key("neighbors"), i)
		n.check(p, nk, c)
		if seen[n.Address.Addr] {
			p.Add(nk+".address", "neighbor %s is listed twice", n.Address.Addr)
		}
		seen[n.Address.Addr] = true
	}
}

func (n *Neighbor) check(p *yamlconf.Problems, key string, c *Config) {
	if !n.Address.IsValid() {
		p.Add(key+".address", "address is required")
	}
	if n.ASN == 0 {
		p.Add(key+".asn", "asn is required")
	}
	if n.Passive && c.ListenPort == -1 {
		p.Add(key+".passive", "a passive neighbor needs the speaker to listen (listen_port is -1)")
	}
	if h := n.HoldTime.D(); h != 0 && (h < 3*time.Second || h > 65535*time.Second || h%time.Second != 0) {
		p.Add(key+".hold_time", "hold_time %s: want whole seconds from 3s to 65535s (or 0 for the default)", h)
	}
	if r := n.ConnectRetry.D(); r != 0 && r < time.Second {
		p.Add(key+".connect_retry", "connect_retry %s is below 1s", r)
	}
	if c.LocalAddress.IsValid() && n.Address.IsValid() && c.LocalAddress.Is4() != n.Address.Is4() {
		p.Add(key+".address", "neighbor %s and local_address %s are of different families", n.Address.Addr, c.LocalAddress.Addr)
	}
	for j, f := range n.Families {
		if f != FamilyIPv4Unicast && f != FamilyIPv6Unicast {
			p.Add(fmt.Sprintf("%s.families[%d]", key, j), "family %q: want %q or %q", f, FamilyIPv4Unicast, FamilyIPv6Unicast)
		}
	}
	if slices.Contains(n.families(), FamilyIPv6Unicast) && n.Address.Is4() && !c.NextHop6.IsValid() {
		// GoBGP would put the session's IPv4 address in an IPv6 next hop.
		p.Add(key+".families", "IPv6 routes over an IPv4 session need next_hop6; or list only ipv4-unicast and add an IPv6 neighbor")
	}
}

func (n *Neighbor) families() []string {
	if len(n.Families) == 0 {
		if n.Address.Is4() {
			return []string{FamilyIPv4Unicast}
		}
		return []string{FamilyIPv6Unicast}
	}
	return n.Families
}

// Validate makes Config usable as a whole document with yamlconf.Decode.
func (c *Config) Validate(p *yamlconf.Problems) { c.Check(p, "") }

// Err runs Check and returns its problems as one error, for configurations
// built in Go rather than decoded from YAML.
func (c *Config) Err() error {
	var probs yamlconf.Problems
	c.check(&probs, "")
	if err := probs.Err(); err != nil {
		return fmt.Errorf("gobgp speaker: invalid configuration: %w", err)
	}
	return nil
}

// Ports lists the TCP ports this speaker's sessions use: the port it
// listens on (179 for 0, none for -1) and each neighbor's port (179 when
// unset), sorted without duplicates. The host checks use it to recognise
// the speaker's sockets.
func (c *Config) Ports() []uint16 {
	var out []uint16
	switch {
	case c.ListenPort == 0:
		out = append(out, 179)
	case c.ListenPort > 0:
		out = append(out, uint16(c.ListenPort))
	}
	for _, n := range c.Neighbors {
		p := n.Port
		if p == 0 {
			p = 179
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
