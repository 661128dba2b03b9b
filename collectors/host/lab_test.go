package host_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anydiag/anydiag/collectors/host"
	"github.com/anydiag/anydiag/collectors/host/nstest"
	"github.com/anydiag/anydiag/lab"
)

// TestLabFacts collects inside a namespace holding a VIP on lo, a veth pair
// with MTUs 1400/1500, namespace-local sysctls and a real gobgpd listening
// on TCP 179, and checks the facts come from that namespace.
func TestLabFacts(t *testing.T) {
	ns := nstest.New(t, "facts")
	nstest.IP(t, "-n", ns, "addr", "add", "192.0.2.1/32", "dev", "lo")
	nstest.IP(t, "-n", ns, "link", "add", "ad0", "mtu", "1400", "type", "veth", "peer", "name", "ad1")
	nstest.Sysctl(t, ns, "net.ipv4.ip_forward", "1")
	nstest.Sysctl(t, ns, "net.ipv4.fib_multipath_hash_policy", "1")
	pid := nstest.GoBGP(t, ns)

	collect := func() host.Facts {
		var f host.Facts
		nstest.Do(t, ns, func() (err error) {
			f, err = host.New(host.Options{}).Collect()
			return err
		})
		return f
	}
	// gobgpd listens a moment after it starts: poll with a deadline.
	var f host.Facts
	err := lab.WaitFor(context.Background(), 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		f = collect()
		return slices.ContainsFunc(f.Sockets, func(s host.Socket) bool { return s.State == "LISTEN" && s.PID == pid }), nil
	})
	if err != nil {
		t.Fatalf("gobgpd (pid %d) never listened on 179: %v: daemons %+v sockets %+v", pid, err, f.Daemons, f.Sockets)
	}
	if f.Sysctls["net.ipv4.ip_forward"] != "1" || f.Sysctls["net.ipv4.fib_multipath_hash_policy"] != "1" {
		t.Errorf("sysctls = %v", f.Sysctls)
	}
	if !slices.Contains(f.Addresses, host.Address{Interface: "lo", Prefix: netip.MustParsePrefix("192.0.2.1/32")}) {
		t.Errorf("addresses = %+v", f.Addresses)
	}
	if len(f.Interfaces) != 3 {
		t.Errorf("interfaces = %+v, want lo, ad0, ad1 of the namespace only", f.Interfaces)
	}
	if f.KernelRelease == "" {
		t.Error("no kernel release")
	}
}
