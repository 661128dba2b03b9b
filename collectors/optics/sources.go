package optics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
)

// Sources says where Read finds modules: the agent's collectors.optics
// section, `anydiag optics` and `anydiag doctor` all fill one.
type Sources struct {
	// Files maps an interface name to a dump of its module ("ethtool -m
	// IFACE raw on" or "hex on" output). The name may be empty for a dump
	// that belongs to no interface (anydiag optics --eeprom-file).
	Files map[string]string
	// Interfaces are read from the device; one that also has a file is read
	// from the file only.
	Interfaces []string
	// Scan, when Interfaces is empty, reads every interface of the host and
	// skips those whose driver exposes no module EEPROM (lo, veth, bridges).
	Scan bool
}

// Read reads and decodes every module the sources name: files in the order
// of their interface names, then interfaces. A module that fails to read or
// decode is reported in the joined error while the others are still
// returned, so one bad cage does not hide the rest.
func Read(ctx context.Context, s Sources) ([]Module, error) {
	var mods []Module
	var errs []error
	for _, ifname := range slices.Sorted(maps.Keys(s.Files)) {
		path := s.Files[ifname]
		m, err := readFile(path)
		if err != nil {
			if ifname != "" {
				err = fmt.Errorf("%s: %w", ifname, err)
			}
			errs = append(errs, fmt.Errorf("optics: %w", err))
			continue
		}
		m.Interface = ifname
		mods = append(mods, *m)
	}
	names, scanning := s.Interfaces, false
	if len(names) == 0 && s.Scan {
		ifs, err := net.Interfaces()
		if err != nil {
			return mods, errors.Join(append(errs, fmt.Errorf("optics: list interfaces: %w", err))...)
		}
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		scanning = true
	}
	for _, ifname := range names {
		if _, dumped := s.Files[ifname]; dumped {
			continue
		}
		// ReadInterface's errors name the interface already.
		img, src, err := ReadInterface(ctx, ifname)
		if err != nil {
			if !scanning || !errors.Is(err, ErrNotSupported) {
				errs = append(errs, err)
			}
			continue
		}
		m, err := Decode(img)
		if err != nil {
			errs = append(errs, fmt.Errorf("optics: %s: %w", ifname, err))
			continue
		}
		m.Interface, m.Source = ifname, src
		mods = append(mods, *m)
	}
	return mods, errors.Join(errs...)
}

// readFile decodes one dump; its errors name the file.
func readFile(path string) (*Module, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := ParseDump(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := Decode(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Source = "file"
	return m, nil
}
