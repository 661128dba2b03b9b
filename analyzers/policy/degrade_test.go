package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/yamlconf"
	"github.com/anydiag/anydiag/speakers"
)

// TestDegradeCommunities: degrade.communities are read by
// speakers.ParseCommunity (the one community parser): numbers without
// leading zeros, large communities and well-known names; Attributes carries
// the typed communities, GRACEFUL_SHUTDOWN last when graceful_shutdown is set.
func TestDegradeCommunities(t *testing.T) {
	for _, tc := range []struct {
		name  string
		comms []string
		want  []string // problems, "key: substring"
	}{
		{"numbers, large, names", []string{"65010:7", "65010:1:2", "NO_EXPORT", "blackhole"}, nil},
		{"leading zero", []string{"065535:0"}, []string{`policy.degrade.communities[0]: community "065535:0": leading zero`}},
		{"too large", []string{"65010:7", "65536:1"}, []string{"policy.degrade.communities[1]: community \"65536:1\": 65536 is over 65535"}},
		{"not a community", []string{"x", "1:2:3:4"}, []string{"policy.degrade.communities[0]: community \"x\": want ASN:VALUE", "policy.degrade.communities[1]: community \"1:2:3:4\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DegradeConfig{Communities: tc.comms, GracefulShutdown: true}
			var p yamlconf.Problems
			d.check(&p, "policy.degrade")
			msg := fmt.Sprint(p.Err())
			if p.Len() != len(tc.want) {
				t.Fatalf("%d problems (%s), want %d", p.Len(), msg, len(tc.want))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("problems %q lack %q", msg, w)
				}
			}
			if len(tc.want) > 0 {
				return
			}
			var got []string
			for _, c := range d.Attributes().Communities {
				got = append(got, c.String())
			}
			if want := []string{"65010:7", "65010:1:2", "65535:65281", "65535:666", "65535:0"}; !slices.Equal(got, want) {
				t.Errorf("Attributes().Communities = %v, want %v", got, want)
			}
			if a := d.Attributes(); !slices.Contains(a.Communities, speakers.GracefulShutdown) || !a.Degraded() {
				t.Errorf("Attributes() = %+v", a)
			}
		})
	}
}
