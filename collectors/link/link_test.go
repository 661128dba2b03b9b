package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/mdlayher/ethtool"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// linkMsg builds an RTM_NEWLINK payload the way the kernel lays it out.
func linkMsg(t testing.TB, index int32, flags uint32, attrs func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	hdr := make([]byte, ifinfomsgLen)
	binary.NativeEndian.PutUint32(hdr[4:], uint32(index))
	binary.NativeEndian.PutUint32(hdr[8:], flags)
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(hdr, b...)
}

func stats64(vals map[int]uint64) []byte {
	b := make([]byte, 25*8)
	for i, v := range vals {
		binary.NativeEndian.PutUint64(b[i*8:], v)
	}
	return b
}

func TestParseLink(t *testing.T) {
	veth := linkMsg(t, 7, unix.IFF_UP, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "veth0")
		ae.Uint32(unix.IFLA_MTU, 1400)
		ae.Uint32(unix.IFLA_LINK, 8)
		ae.Uint8(unix.IFLA_OPERSTATE, 6)
		ae.Uint8(unix.IFLA_CARRIER, 1)
		ae.Uint32(unix.IFLA_CARRIER_CHANGES, 4)
		ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
			nae.String(unix.IFLA_INFO_KIND, "veth")
			return nil
		})
		ae.Bytes(unix.IFLA_STATS64, stats64(map[int]uint64{0: 10, 4: 3, 6: 2, 12: 5}))
	})
	lo := linkMsg(t, 1, unix.IFF_UP|unix.IFF_LOOPBACK, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "lo")
		ae.Uint32(unix.IFLA_MTU, 65536)
		ae.Uint32(unix.IFLA_LINK, 1)
		ae.Uint8(unix.IFLA_OPERSTATE, 0)
	})
	tests := []struct {
		name    string
		in      []byte
		want    Interface
		wantErr bool
	}{
		{name: "veth", in: veth, want: Interface{Index: 7, Name: "veth0", Kind: "veth", AdminUp: true,
			OperState: "up", Carrier: true, CarrierChanges: 4, MTU: 1400, PeerIndex: 8,
			Stats: Stats{RxPackets: 10, RxErrors: 3, RxDropped: 2, RxCRCErrors: 5}}},
		{name: "loopback link to itself", in: lo, want: Interface{Index: 1, Name: "lo", Loopback: true,
			AdminUp: true, OperState: "unknown", MTU: 65536}},
		{name: "short header", in: []byte{1, 2, 3}, wantErr: true},
		{name: "no name", in: linkMsg(t, 3, 0, func(ae *netlink.AttributeEncoder) { ae.Uint32(unix.IFLA_MTU, 1500) }), wantErr: true},
		{name: "short stats", in: linkMsg(t, 3, 0, func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, "x")
			ae.Bytes(unix.IFLA_STATS64, make([]byte, 16))
		}), wantErr: true},
		{name: "truncated attribute", in: veth[:len(veth)-3], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLink(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add(linkMsg(f, 2, unix.IFF_UP, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "eth0")
		ae.Bytes(unix.IFLA_STATS64, stats64(nil))
		ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
			nae.String(unix.IFLA_INFO_KIND, "vxlan")
			return nil
		})
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ifi, err := ParseLink(b)
		if err == nil && ifi.Name == "" {
			t.Fatal("parsed an interface without a name")
		}
	})
}

// fakeEthtool answers like a driver; a nil result with nil error means
// "not supported".
type fakeEthtool struct {
	state *ethtool.LinkState
	mode  *ethtool.LinkMode
	fec   *ethtool.FEC
	err   error
}

var errNotSupp = &ethtool.Error{Message: "not supported", Err: os.ErrNotExist}

func pick[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errNotSupp
	}
	return v, nil
}

func (f fakeEthtool) LinkState(ethtool.Interface) (*ethtool.LinkState, error) {
	return pick(f.state, f.err)
}
func (f fakeEthtool) LinkMode(ethtool.Interface) (*ethtool.LinkMode, error) {
	return pick(f.mode, f.err)
}
func (f fakeEthtool) FEC(ethtool.Interface) (*ethtool.FEC, error) { return pick(f.fec, f.err) }

func TestQueryEthtool(t *testing.T) {
	tests := []struct {
		name    string
		q       fakeEthtool
		want    Ethtool
		wantErr bool
	}{
		{name: "100G with RS FEC", q: fakeEthtool{
			state: &ethtool.LinkState{Link: true},
			mode:  &ethtool.LinkMode{SpeedMegabits: 100000, Duplex: ethtool.Full, Autoneg: ethtool.AutonegOn},
			fec:   &ethtool.FEC{Active: unix.ETHTOOL_FEC_RS, Auto: true},
		}, want: Ethtool{LinkDetected: true, SpeedMbps: 100000, Duplex: "full", Autoneg: true, FECActive: "RS", FECAuto: true}},
		{name: "no carrier, speed unknown, no FEC", q: fakeEthtool{
			state: &ethtool.LinkState{},
			mode:  &ethtool.LinkMode{SpeedMegabits: speedUnknown, Duplex: ethtool.Unknown},
		}, want: Ethtool{Duplex: "unknown", Unsupported: []string{"fec"}}},
		{name: "nothing supported", q: fakeEthtool{}, want: Ethtool{Unsupported: []string{"linkstate", "linkmodes", "fec"}}},
		{name: "permission denied", q: fakeEthtool{err: &ethtool.Error{Err: os.ErrPermission}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := queryEthtool(tt.q, 3)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, os.ErrPermission) {
					t.Errorf("err = %v, want it to wrap os.ErrPermission", err)
				}
				return
			}
			if !slices.Equal(got.Unsupported, tt.want.Unsupported) {
				t.Errorf("unsupported = %v, want %v", got.Unsupported, tt.want.Unsupported)
			}
			got.Unsupported, tt.want.Unsupported = nil, nil
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}
