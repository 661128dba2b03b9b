package optics_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/anydiag/anydiag/collectors/optics"
	"github.com/anydiag/anydiag/collectors/optics/eepromgen"
)

// imageSource serves page reads from an image, as the kernel serves them
// from a module, and records what was asked.
type imageSource struct {
	img   *optics.Image
	reads []string
	// refuseBanks makes banks other than 0 answer "not supported", as
	// drivers behind the kernel's legacy fallback do.
	refuseBanks bool
}

func (s *imageSource) read(addr, bank, page, offset uint8) ([]byte, error) {
	s.reads = append(s.reads, fmt.Sprintf("%02x/%d/%02x/%d", addr, bank, page, offset))
	switch {
	case bank != 0 && s.refuseBanks:
		return nil, fmt.Errorf("%w: bank %d", optics.ErrNotSupported, bank)
	case addr == 0x51 && offset == 0 && s.img.A2 != nil:
		return s.img.A2[:optics.PageLen], nil
	case addr == 0x50 && offset == 0 && bank == 0 && page == 0:
		return s.img.Lower, nil
	case addr == 0x50 && offset == optics.PageLen:
		if p := s.img.Upper[optics.Page{Bank: bank, Page: page}]; p != nil {
			return p, nil
		}
	}
	return nil, errors.New("no such page")
}

func TestReadImagePlan(t *testing.T) {
	tests := []struct {
		name        string
		raw         []byte
		refuseBanks bool
		want        []string
		lanes       int
	}{
		{"SFP", eepromgen.SFP(eepromgen.SFPValues{}), false, []string{"50/0/00/0", "50/0/00/128", "51/0/00/0"}, 1},
		{"QSFP28", eepromgen.QSFP28(eepromgen.QSFP28Values{}), false, []string{"50/0/00/0", "50/0/00/128", "50/0/03/128"}, 4},
		{"QSFP28 flat", eepromgen.QSFP28(eepromgen.QSFP28Values{FlatMem: true}), false, []string{"50/0/00/0", "50/0/00/128"}, 4},
		{"CMIS 2 banks", eepromgen.CMIS(eepromgen.CMISValues{Banks: 2}), false,
			[]string{"50/0/00/0", "50/0/00/128", "50/0/01/128", "50/0/02/128", "50/0/11/128", "50/1/11/128"}, 16},
		{"CMIS banks refused", eepromgen.CMIS(eepromgen.CMISValues{Banks: 2}), true,
			[]string{"50/0/00/0", "50/0/00/128", "50/0/01/128", "50/0/02/128", "50/0/11/128", "50/1/11/128"}, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := optics.ParseFlat(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			src := &imageSource{img: want, refuseBanks: tc.refuseBanks}
			got, err := optics.ReadImage(src.read)
			if err != nil {
				t.Fatalf("readImage: %v", err)
			}
			if fmt.Sprint(src.reads) != fmt.Sprint(tc.want) {
				t.Errorf("reads %v, want %v", src.reads, tc.want)
			}
			if !tc.refuseBanks && !bytes.Equal(got.Flat(), tc.raw) {
				t.Errorf("image read differs from the module's")
			}
			m, err := optics.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Lanes) != tc.lanes {
				t.Errorf("%d lanes, want %d (notes %q)", len(m.Lanes), tc.lanes, m.Notes)
			}
		})
	}
}

func TestReadImageShortReply(t *testing.T) {
	src := &imageSource{img: &optics.Image{Lower: make([]byte, 10)}}
	if _, err := optics.ReadImage(src.read); err == nil || !bytes.Contains([]byte(err.Error()), []byte("got 10 bytes")) {
		t.Fatalf("error %v, want a truncated-reply error", err)
	}
}
