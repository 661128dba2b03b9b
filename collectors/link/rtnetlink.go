package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifinfomsgLen is the size of struct ifinfomsg that precedes the attributes.
const ifinfomsgLen = 16

// operStates names IF_OPER_* values (RFC 2863 as in linux/if.h).
var operStates = [...]string{"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"}

// dumpLinks lists every interface with RTM_GETLINK.
func dumpLinks() ([]Interface, error) {
	conn, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("link: rtnetlink dial: %w", err)
	}
	defer conn.Close()
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.RTM_GETLINK), Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, ifinfomsgLen),
	})
	if err != nil {
		return nil, fmt.Errorf("link: RTM_GETLINK: %w", err)
	}
	out := make([]Interface, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		ifi, err := ParseLink(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, ifi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// ParseLink decodes the payload of one RTM_NEWLINK message (ifinfomsg and
// its attributes). It is exported for fuzzing and for callers that receive
// link messages from their own netlink socket.
func ParseLink(b []byte) (Interface, error) {
	if len(b) < ifinfomsgLen {
		return Interface{}, fmt.Errorf("link: RTM_NEWLINK: %d bytes, want at least %d", len(b), ifinfomsgLen)
	}
	flags := binary.NativeEndian.Uint32(b[8:12])
	ifi := Interface{
		Index:    int(int32(binary.NativeEndian.Uint32(b[4:8]))),
		AdminUp:  flags&unix.IFF_UP != 0,
		Loopback: flags&unix.IFF_LOOPBACK != 0,
	}
	ad, err := netlink.NewAttributeDecoder(b[ifinfomsgLen:])
	if err != nil {
		return Interface{}, fmt.Errorf("link: ifindex %d: %w", ifi.Index, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			ifi.Name = ad.String()
		case unix.IFLA_MTU:
			ifi.MTU = int(ad.Uint32())
		case unix.IFLA_LINK:
			ifi.PeerIndex = int(ad.Uint32())
		case unix.IFLA_LINK_NETNSID:
			ifi.PeerNetns = true
		case unix.IFLA_OPERSTATE:
			if v := ad.Uint8(); int(v) < len(operStates) {
				ifi.OperState = operStates[v]
			} else {
				ifi.OperState = fmt.Sprintf("state(%d)", v)
			}
		case unix.IFLA_CARRIER:
			ifi.Carrier = ad.Uint8() == 1
		case unix.IFLA_CARRIER_CHANGES:
			ifi.CarrierChanges = ad.Uint32()
		case unix.IFLA_LINKINFO:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == unix.IFLA_INFO_KIND {
						ifi.Kind = nad.String()
					}
				}
				return nil
			})
		case unix.IFLA_STATS64:
			ad.Do(func(sb []byte) error {
				s, err := parseStats64(sb)
				ifi.Stats = s
				return err
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Interface{}, fmt.Errorf("link: ifindex %d: %w", ifi.Index, err)
	}
	if ifi.Name == "" {
		return Interface{}, fmt.Errorf("link: ifindex %d: no IFLA_IFNAME", ifi.Index)
	}
	// IFLA_LINK is the interface itself for devices without a lower link.
	if ifi.PeerIndex == ifi.Index {
		ifi.PeerIndex = 0
	}
	return ifi, nil
}

// stats64Min is the size of rtnl_link_stats64 up to tx_carrier_errors, the
// last field read here.
const stats64Min = 18 * 8

var errShortStats = errors.New("IFLA_STATS64 too short")

// parseStats64 reads the leading counters of struct rtnl_link_stats64.
func parseStats64(b []byte) (Stats, error) {
	if len(b) < stats64Min {
		return Stats{}, fmt.Errorf("%w: %d bytes", errShortStats, len(b))
	}
	f := func(i int) uint64 { return binary.NativeEndian.Uint64(b[i*8:]) }
	return Stats{
		RxPackets: f(0), TxPackets: f(1), RxBytes: f(2), TxBytes: f(3),
		RxErrors: f(4), TxErrors: f(5), RxDropped: f(6), TxDropped: f(7),
		RxCRCErrors: f(12), RxFrameErrors: f(13), RxFIFOErrors: f(14), RxMissed: f(15),
		TxCarrier: f(17),
	}, nil
}
