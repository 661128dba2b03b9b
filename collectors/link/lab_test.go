package link_test

import (
	"slices"
	"testing"

	"github.com/anydiag/anydiag/collectors/host/nstest"
	"github.com/anydiag/anydiag/collectors/link"
)

// TestLabVeth reads a real veth pair in a namespace of its own: MTUs, kind,
// peer index, what ethtool netlink gives for veth, and carrier changes after
// a flap of the far end.
func TestLabVeth(t *testing.T) {
	ns := nstest.New(t, "link")
	nstest.IP(t, "-n", ns, "link", "add", "ad0", "mtu", "1400", "type", "veth", "peer", "name", "ad1", "mtu", "1500")
	nstest.IP(t, "-n", ns, "link", "set", "ad0", "up")
	nstest.IP(t, "-n", ns, "link", "set", "ad1", "up")
	collect := func() link.Snapshot {
		var s link.Snapshot
		nstest.Do(t, ns, func() (err error) {
			s, err = link.New(link.Options{}).Collect()
			return err
		})
		return s
	}
	before := collect()
	if len(before.Interfaces) != 3 {
		t.Fatalf("want lo, ad0, ad1 in the namespace, got %+v", before.Interfaces)
	}
	ad0, _ := before.ByName("ad0")
	ad1, _ := before.ByName("ad1")
	lo, _ := before.ByName("lo")
	if ad0.MTU != 1400 || ad1.MTU != 1500 || ad0.Kind != "veth" || ad0.PeerIndex != ad1.Index || ad0.PeerNetns {
		t.Errorf("ad0 = %+v\nad1 = %+v", ad0, ad1)
	}
	if !ad0.AdminUp || !ad0.Carrier || ad0.OperState != "up" {
		t.Errorf("ad0 not up: %+v", ad0)
	}
	if !lo.Loopback || lo.Kind != "" {
		t.Errorf("lo = %+v", lo)
	}
	e := ad0.Ethtool
	if e == nil || e.Error != "" {
		t.Fatalf("ad0 ethtool = %+v", e)
	}
	// veth implements get_link_ksettings (10G full, no autoneg) and the link
	// test, but not FEC: the kernel answers EOPNOTSUPP.
	if !e.LinkDetected || e.SpeedMbps != 10000 || e.Duplex != "full" || e.Autoneg || !slices.Contains(e.Unsupported, "fec") {
		t.Errorf("ad0 ethtool = %+v", e)
	}
	if lo.Ethtool == nil || !slices.Contains(lo.Ethtool.Unsupported, "linkmodes") {
		t.Errorf("lo ethtool = %+v", lo.Ethtool)
	}

	nstest.IP(t, "-n", ns, "link", "set", "ad1", "down")
	nstest.IP(t, "-n", ns, "link", "set", "ad1", "up")
	after := collect()
	ad0b, _ := after.ByName("ad0")
	if d := ad0b.CarrierChanges - ad0.CarrierChanges; d != 2 {
		t.Errorf("carrier changes rose by %d after one flap of the peer, want 2", d)
	}
}
