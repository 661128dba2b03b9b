// Package link reads the state of network interfaces: operational state,
// carrier and its changes, MTU and the kernel's 64-bit counters over
// rtnetlink, and speed, duplex, autonegotiation and FEC over ethtool netlink.
// It reports values only; analyzers/thresholds judges them.
package link

import (
	"fmt"
	"slices"
	"time"
)

// Stats are the kernel's rtnl_link_stats64 counters that matter for
// diagnosis (errors, drops, CRC), plus packets and bytes for context.
type Stats struct {
	RxPackets     uint64 `json:"rx_packets"`
	TxPackets     uint64 `json:"tx_packets"`
	RxBytes       uint64 `json:"rx_bytes"`
	TxBytes       uint64 `json:"tx_bytes"`
	RxErrors      uint64 `json:"rx_errors"`
	TxErrors      uint64 `json:"tx_errors"`
	RxDropped     uint64 `json:"rx_dropped"`
	TxDropped     uint64 `json:"tx_dropped"`
	RxCRCErrors   uint64 `json:"rx_crc_errors"`
	RxFrameErrors uint64 `json:"rx_frame_errors"`
	RxFIFOErrors  uint64 `json:"rx_fifo_errors"`
	RxMissed      uint64 `json:"rx_missed_errors"`
	TxCarrier     uint64 `json:"tx_carrier_errors"`
}

// Ethtool is what the ethtool netlink family reports for an interface.
// Drivers implement it partially (veth has link modes but no FEC, lo has
// neither): each part the driver does not support is named in Unsupported
// and left at its zero value.
type Ethtool struct {
	// LinkDetected is the driver's link test (ETHTOOL_MSG_LINKSTATE_GET).
	LinkDetected bool `json:"link_detected"`
	// SpeedMbps is 0 when the speed is unknown (no link, or virtual).
	SpeedMbps int `json:"speed_mbps"`
	// Duplex is "full", "half" or "unknown".
	Duplex  string `json:"duplex,omitempty"`
	Autoneg bool   `json:"autoneg"`
	// FECActive is the FEC mode in use, e.g. "RS" or "Off"; FECAuto is true
	// when the driver picks it.
	FECActive   string   `json:"fec_active,omitempty"`
	FECAuto     bool     `json:"fec_auto"`
	Unsupported []string `json:"unsupported,omitempty"`
	// Error is a failure other than "not supported", e.g. EPERM.
	Error string `json:"error,omitempty"`
}

// Interface is one network interface.
type Interface struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Kind is the rtnetlink link kind ("veth", "dummy", "vxlan"); empty for
	// loopback and physical NICs.
	Kind     string `json:"kind,omitempty"`
	Loopback bool   `json:"loopback"`
	// AdminUp is IFF_UP; OperState is RFC 2863's state as the kernel names it.
	AdminUp   bool   `json:"admin_up"`
	OperState string `json:"oper_state"`
	Carrier   bool   `json:"carrier"`
	// CarrierChanges counts carrier transitions since the interface was
	// created; it rises by 2 for each flap.
	CarrierChanges uint32 `json:"carrier_changes"`
	MTU            int    `json:"mtu"`
	// PeerIndex is the ifindex of the other end of a veth (IFLA_LINK), 0 when
	// unknown; PeerNetns is true when that end lives in another namespace.
	PeerIndex int      `json:"peer_index,omitempty"`
	PeerNetns bool     `json:"peer_netns,omitempty"`
	Stats     Stats    `json:"stats"`
	Ethtool   *Ethtool `json:"ethtool,omitempty"`
}

// Snapshot is every interface read at one instant.
type Snapshot struct {
	At         time.Time   `json:"at"`
	Interfaces []Interface `json:"interfaces"`
}

// Only keeps the named interfaces, in the snapshot's order; no names keeps
// them all (collectors.link.interfaces empty means every interface).
func (s Snapshot) Only(names []string) Snapshot {
	if len(names) == 0 {
		return s
	}
	kept := make([]Interface, 0, len(names))
	for _, i := range s.Interfaces {
		if slices.Contains(names, i.Name) {
			kept = append(kept, i)
		}
	}
	s.Interfaces = kept
	return s
}

// ByName returns the interface called name.
func (s Snapshot) ByName(name string) (Interface, bool) {
	for _, i := range s.Interfaces {
		if i.Name == name {
			return i, true
		}
	}
	return Interface{}, false
}

// Options configure a Collector.
type Options struct {
	// Now stamps snapshots; time.Now when nil.
	Now func() time.Time
	// SkipEthtool leaves Interface.Ethtool nil, for callers that need only
	// counters and MTUs.
	SkipEthtool bool
}

// Collector reads interfaces. Its sockets are opened on each Collect, in the
// network namespace of the calling OS thread, so a caller on a locked thread
// that joined another namespace reads that namespace.
type Collector struct {
	opts Options
}

// New returns a Collector.
func New(opts Options) *Collector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Collector{opts: opts}
}

// Collect reads every interface once.
func (c *Collector) Collect() (Snapshot, error) {
	s := Snapshot{At: c.opts.Now()}
	ifs, err := dumpLinks()
	if err != nil {
		return Snapshot{}, err
	}
	if !c.opts.SkipEthtool {
		if err := addEthtool(ifs); err != nil {
			return Snapshot{}, fmt.Errorf("link: %w", err)
		}
	}
	s.Interfaces = ifs
	return s, nil
}
