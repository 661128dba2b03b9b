package lab

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown key with line", "name: x\nnodes:\n  - name: a\n    forwardng: true\n", []string{"line 4", "forwardng"}},
		{"empty", "", []string{"empty topology"}},
		{"no nodes", "name: x\n", []string{"no nodes"}},
		{"duplicate node", "nodes: [{name: a}, {name: a}]\n", []string{`node "a": duplicate name`}},
		{"bad node name", "nodes: [{name: 1a}]\n", []string{`bad name "1a"`}},
		{"unknown link node", "nodes: [{name: a}]\nlinks: [{a: {node: a}, b: {node: zz}}]\n", []string{`unknown node "zz"`}},
		{"bad cidr", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a, addrs: [198.51.100.1]}, b: {node: b}}]\n",
			[]string{`address "198.51.100.1": not a CIDR prefix`}},
		{"bad loopback", "nodes: [{name: a, loopback: [192.0.2.300/32]}]\n", []string{`loopback "192.0.2.300/32"`}},
		{"iface too long", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a, iface: abcdefghijklmnop}, b: {node: b}}]\n",
			[]string{"at most 15 characters"}},
		{"duplicate iface", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a, iface: eth1}, b: {node: b}}, {a: {node: a}, b: {node: b}}]\n",
			[]string{"duplicate interface eth1"}},
		{"loss range", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a}, b: {node: b}, loss: 101}]\n", []string{"loss 101%"}},
		{"bad rate", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a}, b: {node: b}, rate: fast}]\n", []string{`rate "fast"`}},
		{"bad delay", "nodes: [{name: a}, {name: b}]\nlinks: [{a: {node: a}, b: {node: b}, delay: soon}]\n", []string{"line 2"}},
		{"self link", "nodes: [{name: a}]\nlinks: [{a: {node: a}, b: {node: a}}]\n", []string{`both ends on node "a"`}},
		{"route family", "nodes: [{name: a, routes: [{to: 203.0.113.0/24, via: '2001:db8::1'}]}]\n", []string{"address families differ"}},
		{"route no via", "nodes: [{name: a, routes: [{to: 203.0.113.0/24}]}]\n", []string{"needs via or dev"}},
		{"route unknown dev", "nodes: [{name: a, routes: [{to: 203.0.113.0/24, dev: eth9}]}]\n", []string{`dev "eth9"`}},
		{"root sysctl", "nodes: [{name: a, sysctls: {kernel.pid_max: '1'}}]\n", []string{"only net.*"}},
		{"two documents", "nodes: [{name: a}]\n---\nnodes: [{name: b}]\n", []string{"more than one document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseDerivesInterfaces(t *testing.T) {
	topo, err := ParseBytes([]byte(`name: tri
nodes: [{name: a}, {name: b}, {name: c}]
links:
  - {a: {node: a}, b: {node: b}, mtu: 9000, delay: 5ms, rate: 10mbit, loss: 3}
  - {a: {node: a, iface: up0}, b: {node: c}}
  - {a: {node: b}, b: {node: c}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"eth0", "eth0"}, {"up0", "eth0"}, {"eth1", "eth1"}}
	if got := topo.ifaceNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("iface names %v, want %v", got, want)
	}
	l := topo.Links[0]
	if l.MTU != 9000 || l.Delay != 5*time.Millisecond || l.Rate != "10mbit" || l.Loss != 3 {
		t.Errorf("link 0 = %+v", l)
	}
}

func TestExamplesLoad(t *testing.T) {
	for _, f := range []string{"../examples/lab/chain.yaml", "../examples/lab/anycast.yaml"} {
		if _, err := Load(f); err != nil {
			t.Error(err)
		}
	}
}

func TestParseRateBits(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"10mbit", 10_000_000}, {"512kbit", 512_000}, {"1gbit", 1_000_000_000}, {"1.5mbit", 1_500_000}, {"100kbps", 800_000},
	}
	for _, tc := range tests {
		if got, err := parseRateBits(tc.in); err != nil || got != tc.want {
			t.Errorf("parseRateBits(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "10", "mbit", "-1mbit", "1bit", "5tbit"} {
		if _, err := parseRateBits(bad); err == nil {
			t.Errorf("parseRateBits(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../examples/lab/chain.yaml", "../examples/lab/anycast.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("nodes: [{name: a}]\nlinks: [{a: {node: a}, b: {node: a}}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		topo, err := ParseBytes(b)
		if err != nil {
			return
		}
		// Whatever parses must be a topology Up can name: valid iface names.
		for _, pair := range topo.ifaceNames() {
			for _, n := range pair {
				if !ifaceNameRE.MatchString(n) {
					t.Fatalf("accepted topology derives bad interface name %q", n)
				}
			}
		}
	})
}

func TestWaitFor(t *testing.T) {
	calls := 0
	err := WaitFor(t.Context(), 5*time.Second, time.Millisecond, func() (bool, error) {
		calls++
		return calls == 3, errors.New("not yet")
	})
	if err != nil || calls != 3 {
		t.Errorf("WaitFor = %v after %d calls, want nil after 3", err, calls)
	}

	errLast := errors.New("still down")
	err = WaitFor(t.Context(), 20*time.Millisecond, time.Millisecond, func() (bool, error) { return false, errLast })
	if !errors.Is(err, errLast) {
		t.Errorf("timeout error %v does not wrap the condition's last error", err)
	}

	errGone := errors.New("daemon exited")
	calls = 0
	err = WaitFor(t.Context(), 5*time.Second, time.Millisecond, func() (bool, error) {
		calls++
		return false, Permanent(errGone)
	})
	if !errors.Is(err, errGone) || calls != 1 {
		t.Errorf("permanent error: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = WaitFor(ctx, 5*time.Second, time.Millisecond, func() (bool, error) { return false, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
