package host

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

// Each encapsulation is checked on its own, named by its index under the
// path the section sits at.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  []Encapsulation
		want []string
	}{
		{"valid overlay", []Encapsulation{{Kind: "vxlan", Underlay: "eth0", Overlay: "vx0"}}, nil},
		{"valid inner mtu", []Encapsulation{{Kind: "gre", Underlay: "eth0", InnerMTU: 1400}}, nil},
		{"unknown kind", []Encapsulation{{Kind: "mpls", Underlay: "eth0", InnerMTU: 1400}}, []string{"collectors.host.encapsulations[0].kind: "}},
		{"no underlay, no inner size", []Encapsulation{{Kind: "vxlan", Underlay: "eth0", Overlay: "vx0"}, {Kind: "ipip"}},
			[]string{"collectors.host.encapsulations[1].underlay: required", "collectors.host.encapsulations[1]: set overlay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Encapsulations: tc.enc}
			var p yamlconf.Problems
			c.Check(&p, "collectors.host")
			msg := fmt.Sprint(p.Err())
			if p.Len() != len(tc.want) {
				t.Fatalf("%d problems (%s), want %d", p.Len(), msg, len(tc.want))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("problems %q lack %q", msg, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.Defaults()
	if c.Interval.D() != time.Minute {
		t.Errorf("default interval %s", c.Interval.D())
	}
	c = Config{Interval: yamlconf.Duration(time.Second)}
	c.Defaults()
	if c.Interval.D() != time.Second {
		t.Errorf("a set interval became %s", c.Interval.D())
	}
}
