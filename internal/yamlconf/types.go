package yamlconf

import (
	"fmt"
	"net/netip"
	"time"

	"go.yaml.in/yaml/v3"
)

// valueError is collected by the decoder like a type error, so that one bad
// value does not hide the others.
func valueError(n *yaml.Node, format string, a ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, a...))}}
}

// Duration is a time.Duration written as "10s" or "1m30s"; negative values are refused.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return valueError(n, "invalid duration %q (write it like 500ms, 10s or 1m30s)", n.Value)
	}
	if v < 0 {
		return valueError(n, "negative duration %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes the duration as a string (JSON output).
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Prefix is an IP prefix in CIDR notation, masked.
type Prefix struct{ netip.Prefix }

// UnmarshalYAML parses a CIDR prefix and refuses host bits set.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return valueError(n, "invalid prefix %q (write it like 192.0.2.0/24 or 2001:db8::/48)", n.Value)
	}
	if v.Masked() != v {
		return valueError(n, "prefix %q has host bits set (did you mean %s?)", n.Value, v.Masked())
	}
	p.Prefix = v
	return nil
}

// MarshalText writes the prefix in CIDR notation.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.Prefix.String()), nil }

// HostPrefix is a host route: /32 for IPv4, /128 for IPv6, as an anycast
// service address must be.
type HostPrefix struct{ netip.Prefix }

// UnmarshalYAML parses a host route; a bare address means its host route.
func (p *HostPrefix) UnmarshalYAML(n *yaml.Node) error {
	if a, err := netip.ParseAddr(n.Value); err == nil {
		p.Prefix = netip.PrefixFrom(a, a.BitLen())
		return nil
	}
	v, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return valueError(n, "invalid prefix %q (write a host route like 192.0.2.1/32 or 2001:db8::1/128)", n.Value)
	}
	if v.Bits() != v.Addr().BitLen() {
		return valueError(n, "%q is a /%d: a host route (/%d) is required here", n.Value, v.Bits(), v.Addr().BitLen())
	}
	p.Prefix = v
	return nil
}

// MarshalText writes the prefix in CIDR notation.
func (p HostPrefix) MarshalText() ([]byte, error) { return []byte(p.Prefix.String()), nil }

// Addr is an IPv4 or IPv6 address.
type Addr struct{ netip.Addr }

// UnmarshalYAML parses an address.
func (a *Addr) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParseAddr(n.Value)
	if err != nil {
		return valueError(n, "invalid IP address %q", n.Value)
	}
	a.Addr = v
	return nil
}

// MarshalText writes the address.
func (a Addr) MarshalText() ([]byte, error) { return []byte(a.Addr.String()), nil }

// AddrPort is a host:port listen or dial address.
type AddrPort struct{ netip.AddrPort }

// UnmarshalYAML parses "127.0.0.1:9179" or "[::1]:9179".
func (a *AddrPort) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParseAddrPort(n.Value)
	if err != nil {
		return valueError(n, "invalid address:port %q (write it like 127.0.0.1:9179 or [::1]:9179)", n.Value)
	}
	a.AddrPort = v
	return nil
}

// MarshalText writes the address and port.
func (a AddrPort) MarshalText() ([]byte, error) { return []byte(a.AddrPort.String()), nil }
