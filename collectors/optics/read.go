package optics

import (
	"errors"
	"fmt"
)

// I²C addresses of the module memory: 0x50 holds the identity and, for
// paged maps, everything; 0x51 holds SFF-8472 diagnostics (A2h).
const (
	i2cA0 = 0x50
	i2cA2 = 0x51
)

// pageSource reads 128 bytes of module memory: the lower half (offset 0)
// or the upper half (offset 128) of a page of a bank at an I²C address.
type pageSource interface {
	readPage(addr, bank, page, offset uint8) ([]byte, error)
}

// readImage reads what the decoders need, in the order ethtool does: the
// lower page first, since its identifier decides the memory map and its
// advertisement bytes decide which pages exist.
func readImage(src pageSource) (*Image, error) {
	read := func(addr, bank, page, offset uint8) ([]byte, error) {
		b, err := src.readPage(addr, bank, page, offset)
		if err != nil {
			return nil, fmt.Errorf("I2C 0x%02x bank %d page %02xh offset %d: %w", addr, bank, page, offset, err)
		}
		if len(b) != PageLen {
			return nil, fmt.Errorf("I2C 0x%02x bank %d page %02xh offset %d: %w: got %d bytes, want %d", addr, bank, page, offset, ErrTruncated, len(b), PageLen)
		}
		return b, nil
	}
	lower, err := read(i2cA0, 0, 0, 0)
	if err != nil {
		return nil, err
	}
	img := &Image{Lower: lower, Upper: map[Page][]byte{}}
	upper := func(bank, page uint8) error {
		b, err := read(i2cA0, bank, page, PageLen)
		if err == nil {
			img.Upper[Page{Bank: bank, Page: page}] = b
		}
		return err
	}
	switch family(lower[0]) {
	case SFF8472:
		if err := upper(0, 0); err != nil {
			return nil, err
		}
		if lower[a0DiagType]&diagImplemented != 0 {
			if img.A2, err = read(i2cA2, 0, 0, 0); err != nil {
				return nil, err
			}
		}
	case SFF8636:
		if err := upper(0, 0); err != nil {
			return nil, err
		}
		if lower[q8636Status]&0x04 == 0 {
			if err := upper(0, 3); err != nil {
				return nil, err
			}
		}
	case CMIS:
		if err := upper(0, 0); err != nil {
			return nil, err
		}
		if lower[cmisMemModel]&0x80 != 0 {
			return img, nil
		}
		for _, p := range []uint8{1, 2} {
			if err := upper(0, p); err != nil {
				return nil, err
			}
		}
		banks, err := cmisBanks(img.page(0, 1))
		if err != nil {
			return nil, err
		}
		for b := range banks {
			err := upper(uint8(b), 0x11)
			// Drivers served through the kernel's legacy fallback refuse
			// any bank but 0; the decoder notes the missing lanes.
			if err != nil && (b == 0 || !errors.Is(err, ErrNotSupported)) {
				return nil, err
			}
		}
	}
	return img, nil
}
