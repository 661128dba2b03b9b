package host

import "fmt"

// Encapsulation is one tunnel this node carries: packets of InnerMTU bytes
// (or of the Overlay interface's MTU) leave through Underlay with the
// encapsulation's headers added.
type Encapsulation struct {
	// Kind is vxlan, gre, ipip, geneve or wireguard.
	Kind string `json:"kind" yaml:"kind"`
	// Underlay is the interface the encapsulated packets leave through.
	Underlay string `json:"underlay" yaml:"underlay"`
	// Overlay is the tunnel interface, whose MTU is the inner size; when
	// empty InnerMTU is used.
	Overlay  string `json:"overlay,omitempty" yaml:"overlay"`
	InnerMTU int    `json:"inner_mtu,omitempty" yaml:"inner_mtu"`
	// OptionsBytes is GENEVE's option length.
	OptionsBytes int `json:"options_bytes,omitempty" yaml:"options_bytes"`
	// IPv6Outer is true when the outer header is IPv6.
	IPv6Outer bool `json:"ipv6_outer,omitempty" yaml:"ipv6_outer"`
}

// OverheadBytes is the bytes the encapsulation adds to each inner packet.
// The IPv4-outer figures are VXLAN 50, GRE 24, IPIP 20, GENEVE 50 plus
// options, WireGuard 60; an IPv6 outer header is 20 bytes longer.
func (e Encapsulation) OverheadBytes() (int, error) {
	var v4 int
	switch e.Kind {
	case "vxlan":
		v4 = 50
	case "gre":
		v4 = 24
	case "ipip":
		v4 = 20
	case "geneve":
		if e.OptionsBytes < 0 || e.OptionsBytes%4 != 0 || e.OptionsBytes > 252 {
			return 0, fmt.Errorf("geneve options: %d bytes, want a multiple of 4 up to 252", e.OptionsBytes)
		}
		v4 = 50 + e.OptionsBytes
	case "wireguard":
		v4 = 60
	default:
		return 0, fmt.Errorf("unknown encapsulation %q (want vxlan, gre, ipip, geneve or wireguard)", e.Kind)
	}
	if e.IPv6Outer {
		return v4 + 20, nil
	}
	return v4, nil
}
