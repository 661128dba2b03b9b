package optics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PageLen is the size of one EEPROM page half: the kernel reads at most this
// many bytes at a time, and upper pages are this long.
const PageLen = 128

// Errors Decode, ParseDump and ReadInterface wrap, for errors.Is.
var (
	// ErrTruncated means the image is shorter than its memory map requires.
	ErrTruncated = errors.New("truncated EEPROM image")
	// ErrCorrupt means the bytes contradict the memory map they claim.
	ErrCorrupt = errors.New("corrupt EEPROM image")
	// ErrUnsupported means the module's identifier names a memory map
	// anydiag does not decode.
	ErrUnsupported = errors.New("unsupported module")
	// ErrNotSupported means the interface's driver does not expose module
	// EEPROM at all (veth, virtual NICs, NICs without a cage).
	ErrNotSupported = errors.New("module EEPROM not supported by the driver")
)

// Page identifies one upper page (bytes 128-255) of a paged memory map.
type Page struct {
	// Bank is the bank number (CMIS pages 10h-FFh are banked; 0 otherwise).
	Bank uint8
	// Page is the page number.
	Page uint8
}

// Image is a module's EEPROM as read: the lower half of the memory map,
// the upper pages that were read, and for SFF-8472 the diagnostics at I²C
// address 0x51.
type Image struct {
	// Lower holds bytes 0-127 at I²C address 0x50 (A0h for SFP).
	Lower []byte
	// Upper holds bytes 128-255 of each page read, keyed by bank and page.
	// SFF-8472's A0h bytes 128-255 are Page{0, 0}.
	Upper map[Page][]byte
	// A2 holds SFF-8472 bytes 0-127 at I²C address 0x51 (A2h: diagnostics);
	// nil when absent. Bytes 128-255 there are user memory anydiag ignores.
	A2 []byte
}

// page returns upper page p of bank b, or nil when it was not read.
func (img *Image) page(bank, p uint8) []byte {
	return img.Upper[Page{Bank: bank, Page: p}]
}

// family classifies an SFF-8024 identifier byte.
func family(id byte) Standard {
	switch id {
	case 0x01, 0x02, 0x03:
		return SFF8472
	case 0x0c, 0x0d, 0x11:
		return SFF8636
	case 0x18, 0x19, 0x1b, 0x1e, 0x1f, 0x20:
		return CMIS
	}
	return ""
}

// Flat lays the image out as the legacy ethtool ioctl does, which is what
// `ethtool -m X raw on` prints: SFF-8472 is A0h (256 bytes) then A2h (256
// bytes, 512 in all); paged maps are the lower half then page p at offset
// 128+128·p (SFF-8636's 640-byte image holds pages 0-3). Banks other than
// 0 have no legacy layout: anydiag puts page p of bank b at
// 128+128·(256·b+p), which extends the same rule.
func (img *Image) Flat() []byte {
	lower := make([]byte, PageLen)
	copy(lower, img.Lower)
	if len(img.Lower) > 0 && family(img.Lower[0]) == SFF8472 {
		out := append(lower, make([]byte, PageLen)...)
		copy(out[PageLen:], img.page(0, 0))
		if img.A2 != nil {
			a2 := make([]byte, 2*PageLen)
			copy(a2, img.A2)
			out = append(out, a2...)
		}
		return out
	}
	end := 2 * PageLen
	for k := range img.Upper {
		if e := flatOffset(k) + PageLen; e > end {
			end = e
		}
	}
	out := make([]byte, end)
	copy(out, lower)
	for k, p := range img.Upper {
		copy(out[flatOffset(k):flatOffset(k)+PageLen], p)
	}
	return out
}

func flatOffset(k Page) int { return PageLen + PageLen*(256*int(k.Bank)+int(k.Page)) }

// ParseFlat splits a flat image (the layout Flat writes) into an Image.
func ParseFlat(b []byte) (*Image, error) {
	if len(b) < PageLen {
		return nil, fmt.Errorf("optics: %w: %d bytes, the lower page alone is %d", ErrTruncated, len(b), PageLen)
	}
	img := &Image{Lower: clone(b[:PageLen]), Upper: map[Page][]byte{}}
	fam := family(b[0])
	if fam == SFF8472 {
		switch {
		case len(b) < 2*PageLen:
			return nil, fmt.Errorf("optics: %w: SFP image is %d bytes, A0h alone is 256", ErrTruncated, len(b))
		case len(b) == 2*PageLen:
		case len(b) < 3*PageLen:
			return nil, fmt.Errorf("optics: %w: SFP image is %d bytes, A2h needs 256 more than A0h (512 in all)", ErrTruncated, len(b))
		default:
			img.A2 = clone(b[2*PageLen : 3*PageLen])
		}
		img.Upper[Page{}] = clone(b[PageLen : 2*PageLen])
		return img, nil
	}
	if len(b) == PageLen {
		return img, nil
	}
	if len(b)%PageLen != 0 {
		return nil, fmt.Errorf("optics: %w: %d bytes is not a whole number of %d-byte pages", ErrTruncated, len(b), PageLen)
	}
	if len(b) > flatOffset(Page{Bank: 255, Page: 255})+PageLen {
		return nil, fmt.Errorf("optics: %w: %d bytes is more than any memory map holds", ErrCorrupt, len(b))
	}
	for off := PageLen; off < len(b); off += PageLen {
		idx := off/PageLen - 1
		k := Page{Bank: uint8(idx / 256), Page: uint8(idx % 256)}
		// Gaps the writer filled with zeros were not read; a real page is
		// never all zeros, it carries at least an identifier or a checksum.
		if k != (Page{}) && allZero(b[off:off+PageLen]) {
			continue
		}
		img.Upper[k] = clone(b[off : off+PageLen])
	}
	return img, nil
}

// ParseDump accepts the output of `ethtool -m X raw on` (binary) or
// `ethtool -m X hex on` (an "Offset Values" table of hex bytes) and returns
// the image it holds.
func ParseDump(b []byte) (*Image, error) {
	if isHexDump(b) {
		flat, err := parseHex(b)
		if err != nil {
			return nil, err
		}
		b = flat
	}
	return ParseFlat(b)
}

// isHexDump tells ethtool's hex table from a raw image: a hex dump is
// printable text starting with its header or an offset, and no module
// identifier byte is 'O' (0x4f) or '0' (0x30).
func isHexDump(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(t, []byte("Offset")) && !bytes.HasPrefix(t, []byte("0x")) {
		return false
	}
	for _, c := range b {
		if c != '\n' && c != '\r' && c != '\t' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}

// parseHex reads ethtool's dump_hex format: "0x0010:\t\t03 04 ..." lines,
// 16 bytes each, after an "Offset / Values" header.
func parseHex(b []byte) ([]byte, error) {
	var out []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "Offset") || strings.HasPrefix(s, "------") {
			continue
		}
		addr, rest, ok := strings.Cut(s, ":")
		if !ok || !strings.HasPrefix(addr, "0x") {
			return nil, fmt.Errorf("optics: hex dump line %d: want \"0xOFFSET: bytes\", got %q", line, s)
		}
		off, err := strconv.ParseUint(addr[2:], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("optics: hex dump line %d: offset %q: %w", line, addr, err)
		}
		if off != uint64(len(out)) {
			return nil, fmt.Errorf("optics: hex dump line %d: offset 0x%x, expected 0x%x (dumps of single pages are not supported: dump the whole EEPROM)", line, off, len(out))
		}
		for _, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(f, 16, 8)
			if err != nil {
				return nil, fmt.Errorf("optics: hex dump line %d: byte %q: %w", line, f, err)
			}
			out = append(out, byte(v))
		}
		if len(out) > flatOffset(Page{Bank: 255, Page: 255})+PageLen {
			return nil, fmt.Errorf("optics: %w: hex dump longer than any memory map", ErrCorrupt)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("optics: hex dump: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("optics: %w: hex dump holds no bytes", ErrTruncated)
	}
	return out, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
