package optics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ETHTOOL_A_MODULE_EEPROM_* attributes (uapi linux/ethtool_netlink.h);
// x/sys/unix does not define them.
const (
	attrEEPROMHeader  = 1
	attrEEPROMOffset  = 2
	attrEEPROMLength  = 3
	attrEEPROMPage    = 4
	attrEEPROMBank    = 5
	attrEEPROMI2CAddr = 6
	attrEEPROMData    = 7
)

// ReadInterface reads the EEPROM of the module plugged into ifname, through
// ethtool netlink (ETHTOOL_MSG_MODULE_EEPROM_GET) or, when the kernel does
// not offer it, the SIOCETHTOOL ioctl. It returns the image and the path
// used ("netlink" or "ioctl"). Both need CAP_NET_ADMIN. An interface whose
// driver exposes no module EEPROM yields an error wrapping ErrNotSupported.
func ReadInterface(ctx context.Context, ifname string) (*Image, string, error) {
	if len(ifname) == 0 || len(ifname) >= unix.IFNAMSIZ {
		return nil, "", fmt.Errorf("optics: interface name %q: must be 1 to %d bytes", ifname, unix.IFNAMSIZ-1)
	}
	img, nlErr := readNetlink(ctx, ifname)
	if nlErr == nil {
		return img, "netlink", nil
	}
	// EOPNOTSUPP is what both a kernel without the message and a driver
	// without module EEPROM answer, so only the ioctl can tell them apart.
	if !errors.Is(nlErr, ErrNotSupported) {
		return nil, "", fmt.Errorf("optics: %s: netlink ETHTOOL_MSG_MODULE_EEPROM_GET: %w", ifname, nlErr)
	}
	img, ioErr := readIoctl(ifname)
	if ioErr == nil {
		return img, "ioctl", nil
	}
	if errors.Is(ioErr, ErrNotSupported) {
		return nil, "", fmt.Errorf("optics: %s: %w (netlink ETHTOOL_MSG_MODULE_EEPROM_GET and ioctl ETHTOOL_GMODULEINFO both answered \"operation not supported\": the interface has no pluggable module, or its driver does not expose one)", ifname, ErrNotSupported)
	}
	return nil, "", fmt.Errorf("optics: %s: netlink: %v; ioctl fallback: %w", ifname, nlErr, ioErr)
}

// sysErr maps the errno values operators meet to plain words.
func sysErr(err error) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTSUP):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("no such interface: %w", err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("reading module EEPROM needs CAP_NET_ADMIN: %w", err)
	case errors.Is(err, unix.EIO), errors.Is(err, unix.ENXIO), errors.Is(err, unix.EREMOTEIO):
		return fmt.Errorf("the module did not answer on I2C (unseated, or no module in the cage): %w", err)
	}
	return err
}

type netlinkSource struct {
	c      *genetlink.Conn
	family uint16
	ifname string
}

func readNetlink(ctx context.Context, ifname string) (*Image, error) {
	c, err := genetlink.Dial(&netlink.Config{Strict: true})
	if err != nil {
		return nil, fmt.Errorf("dial generic netlink: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	fam, err := c.GetFamily(unix.ETHTOOL_GENL_NAME)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: the kernel has no ethtool netlink family", ErrNotSupported)
		}
		return nil, fmt.Errorf("resolve generic netlink family %q: %w", unix.ETHTOOL_GENL_NAME, err)
	}
	return readImage(&netlinkSource{c: c, family: fam.ID, ifname: ifname})
}

func (s *netlinkSource) readPage(addr, bank, page, offset uint8) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrEEPROMHeader, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.ETHTOOL_A_HEADER_DEV_NAME, s.ifname)
		return nil
	})
	ae.Uint32(attrEEPROMOffset, uint32(offset))
	ae.Uint32(attrEEPROMLength, PageLen)
	ae.Uint8(attrEEPROMPage, page)
	ae.Uint8(attrEEPROMBank, bank)
	ae.Uint8(attrEEPROMI2CAddr, addr)
	req, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	msgs, err := s.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: unix.ETHTOOL_MSG_MODULE_EEPROM_GET, Version: unix.ETHTOOL_GENL_VERSION},
		Data:   req,
	}, s.family, netlink.Request)
	if err != nil {
		return nil, sysErr(err)
	}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, fmt.Errorf("decode reply: %w", err)
		}
		var data []byte
		for ad.Next() {
			if ad.Type() == attrEEPROMData {
				data = ad.Bytes()
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("decode reply: %w", err)
		}
		if data != nil {
			return data, nil
		}
	}
	return nil, fmt.Errorf("reply carries no ETHTOOL_A_MODULE_EEPROM_DATA")
}

// maxIoctlLen bounds the length a driver may claim in ETHTOOL_GMODULEINFO:
// the largest legacy layout is SFF-8636's 640 bytes, and a flattened CMIS
// map with page 11h of four banks fits in 128 KiB.
const maxIoctlLen = 128 << 10

// struct ethtool_modinfo and struct ethtool_eeprom of linux/ethtool.h.
type ethtoolModinfo struct {
	cmd, typ, eepromLen uint32
	_                   [8]uint32
}

type ethtoolEEPROMHeader struct {
	cmd, magic, offset, length uint32
}

// ifreqData is struct ifreq with ifr_data: a pointer the kernel follows.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

func ethtoolIoctl(fd int, ifname string, data unsafe.Pointer) error {
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(data)
	if errno != 0 {
		return errno
	}
	return nil
}

// readIoctl reads the legacy flat image: ETHTOOL_GMODULEINFO for its
// length, then ETHTOOL_GMODULEEEPROM for the bytes.
func readIoctl(ifname string) (*Image, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket for SIOCETHTOOL: %w", err)
	}
	defer unix.Close(fd)
	mi := &ethtoolModinfo{cmd: unix.ETHTOOL_GMODULEINFO}
	if err := ethtoolIoctl(fd, ifname, unsafe.Pointer(mi)); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GMODULEINFO: %w", sysErr(err))
	}
	if mi.eepromLen == 0 || mi.eepromLen > maxIoctlLen {
		return nil, fmt.Errorf("ETHTOOL_GMODULEINFO: %w: the driver claims an EEPROM of %d bytes (type %d)", ErrCorrupt, mi.eepromLen, mi.typ)
	}
	hdr := int(unsafe.Sizeof(ethtoolEEPROMHeader{}))
	buf := make([]byte, hdr+int(mi.eepromLen))
	h := (*ethtoolEEPROMHeader)(unsafe.Pointer(&buf[0]))
	h.cmd, h.offset, h.length = unix.ETHTOOL_GMODULEEEPROM, 0, mi.eepromLen
	if err := ethtoolIoctl(fd, ifname, unsafe.Pointer(&buf[0])); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GMODULEEEPROM: %w", sysErr(err))
	}
	img, err := ParseFlat(buf[hdr : hdr+int(min(h.length, mi.eepromLen))])
	if err != nil {
		return nil, fmt.Errorf("ETHTOOL_GMODULEEEPROM: %w", err)
	}
	return img, nil
}
