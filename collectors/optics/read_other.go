//go:build !linux

package optics

import (
	"context"
	"fmt"
)

// ReadInterface reads a module's EEPROM; only Linux offers a way to.
func ReadInterface(_ context.Context, ifname string) (*Image, string, error) {
	return nil, "", fmt.Errorf("optics: %s: %w: reading module EEPROM needs Linux ethtool", ifname, ErrNotSupported)
}
