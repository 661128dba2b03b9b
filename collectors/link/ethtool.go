package link

import (
	"errors"
	"fmt"
	"os"

	"github.com/mdlayher/ethtool"
)

// speedUnknown is SPEED_UNKNOWN (-1) as the kernel's u32 attribute.
const speedUnknown = 0xffffffff

// ethtoolQuerier is the part of *ethtool.Client the collector uses; tests of
// the mapping substitute a fake.
type ethtoolQuerier interface {
	LinkState(ethtool.Interface) (*ethtool.LinkState, error)
	LinkMode(ethtool.Interface) (*ethtool.LinkMode, error)
	FEC(ethtool.Interface) (*ethtool.FEC, error)
}

// addEthtool fills Interface.Ethtool for every interface. A kernel without
// the ethtool netlink family (before 5.6) leaves every Ethtool nil.
func addEthtool(ifs []Interface) error {
	c, err := ethtool.New()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("ethtool: %w", err)
	}
	defer c.Close()
	for i := range ifs {
		e, err := queryEthtool(c, ifs[i].Index)
		if err != nil {
			// One odd driver must not hide every other interface.
			e = &Ethtool{Error: err.Error()}
		}
		ifs[i].Ethtool = e
	}
	return nil
}

// queryEthtool asks for link state, link modes and FEC. "Not supported"
// (EOPNOTSUPP, and ENODEV for an interface that vanished meanwhile) is
// recorded in Unsupported; any other error is returned and kept by the
// caller in Ethtool.Error.
func queryEthtool(q ethtoolQuerier, index int) (*Ethtool, error) {
	ifi := ethtool.Interface{Index: index}
	e := &Ethtool{}
	unsupported := func(what string, err error) (bool, error) {
		if err == nil {
			return false, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			e.Unsupported = append(e.Unsupported, what)
			return true, nil
		}
		return true, fmt.Errorf("%s: %w", what, err)
	}
	ls, err := q.LinkState(ifi)
	if skip, err := unsupported("linkstate", err); err != nil {
		return nil, err
	} else if !skip {
		e.LinkDetected = ls.Link
	}
	lm, err := q.LinkMode(ifi)
	if skip, err := unsupported("linkmodes", err); err != nil {
		return nil, err
	} else if !skip {
		if lm.SpeedMegabits > 0 && lm.SpeedMegabits != speedUnknown {
			e.SpeedMbps = lm.SpeedMegabits
		}
		e.Duplex = duplexName(lm.Duplex)
		e.Autoneg = lm.Autoneg == ethtool.AutonegOn
	}
	fec, err := q.FEC(ifi)
	if skip, err := unsupported("fec", err); err != nil {
		return nil, err
	} else if !skip {
		e.FECActive = fec.Active.String()
		e.FECAuto = fec.Auto
	}
	return e, nil
}

func duplexName(d ethtool.Duplex) string {
	switch d {
	case ethtool.Full:
		return "full"
	case ethtool.Half:
		return "half"
	default:
		return "unknown"
	}
}
