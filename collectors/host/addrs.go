package host

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/anydiag/anydiag/collectors/link"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifaddrmsgLen is the size of struct ifaddrmsg before the attributes.
const ifaddrmsgLen = 8

// dumpAddrs lists every address with RTM_GETADDR, naming interfaces from ifs.
func dumpAddrs(ifs []link.Interface) ([]Address, error) {
	names := make(map[int]string, len(ifs))
	for _, i := range ifs {
		names[i.Index] = i.Name
	}
	conn, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("host: rtnetlink dial: %w", err)
	}
	defer conn.Close()
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.RTM_GETADDR), Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, ifaddrmsgLen),
	})
	if err != nil {
		return nil, fmt.Errorf("host: RTM_GETADDR: %w", err)
	}
	var out []Address
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR {
			continue
		}
		index, p, err := ParseAddr(m.Data)
		if err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		out = append(out, Address{Interface: names[index], Prefix: p})
	}
	return out, nil
}

// ParseAddr decodes one RTM_NEWADDR payload into the interface index and
// the address with its prefix length. IPv4 uses IFA_LOCAL, since IFA_ADDRESS
// is the peer on point-to-point links.
func ParseAddr(b []byte) (int, netip.Prefix, error) {
	if len(b) < ifaddrmsgLen {
		return 0, netip.Prefix{}, fmt.Errorf("RTM_NEWADDR: %d bytes, want at least %d", len(b), ifaddrmsgLen)
	}
	plen := int(b[1])
	index := int(int32(binary.NativeEndian.Uint32(b[4:8])))
	ad, err := netlink.NewAttributeDecoder(b[ifaddrmsgLen:])
	if err != nil {
		return 0, netip.Prefix{}, fmt.Errorf("RTM_NEWADDR: %w", err)
	}
	var addr, local netip.Addr
	for ad.Next() {
		switch ad.Type() {
		case unix.IFA_ADDRESS:
			addr, _ = netip.AddrFromSlice(ad.Bytes())
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(ad.Bytes())
		}
	}
	if err := ad.Err(); err != nil {
		return 0, netip.Prefix{}, fmt.Errorf("RTM_NEWADDR: %w", err)
	}
	if local.IsValid() {
		addr = local
	}
	if !addr.IsValid() {
		return 0, netip.Prefix{}, fmt.Errorf("RTM_NEWADDR: ifindex %d: no address", index)
	}
	p, err := addr.Prefix(plen)
	if err != nil || p.Bits() != plen {
		return 0, netip.Prefix{}, fmt.Errorf("RTM_NEWADDR: ifindex %d: prefix length %d", index, plen)
	}
	return index, netip.PrefixFrom(addr, plen), nil
}
