package optics

// PageFunc lets external tests serve page reads to readImage.
type PageFunc func(addr, bank, page, offset uint8) ([]byte, error)

func (f PageFunc) readPage(addr, bank, page, offset uint8) ([]byte, error) {
	return f(addr, bank, page, offset)
}

// ReadImage exposes readImage to external tests.
func ReadImage(f PageFunc) (*Image, error) { return readImage(f) }
