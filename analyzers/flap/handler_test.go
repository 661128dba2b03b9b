package flap

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHandlerRoundTrip(t *testing.T) {
	s, err := NewSetFromConfig(Config{})
	if err != nil {
		t.Fatal(err)
	}
	// W, A, W, A, W at t0: Cisco 3000 (dampened), Juniper 5000 (dampened).
	for _, k := range []Kind{Withdraw, Announce, Withdraw, Announce, Withdraw} {
		s.Observe(ev(0, k))
	}
	srv := httptest.NewServer(&Handler{Set: s, Now: func() time.Time { return t0 }, Own: []netip.Prefix{anyPfx}})
	defer srv.Close()
	ctx := context.Background()
	tests := []struct {
		profile string
		penalty float64
	}{{"", 3000}, {"cisco", 3000}, {"juniper", 5000}}
	for _, tc := range tests {
		r, err := FetchReport(ctx, nil, srv.URL, tc.profile, anyPfx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Entries) != 1 || r.Entries[0].Penalty != tc.penalty || len(r.Findings) != 1 ||
			r.Findings[0].Code != "bgp.prefix_dampened" || r.Profile.HalfLife != 15*time.Minute {
			t.Fatalf("profile %q: %+v", tc.profile, r)
		}
	}
	if _, err := FetchReport(ctx, nil, srv.URL, "huawei", netip.Prefix{}); err == nil || !strings.Contains(err.Error(), "not tracked") {
		t.Fatalf("unknown profile: %v", err)
	}
	r, err := FetchReport(ctx, nil, srv.URL, "cisco", netip.MustParsePrefix("198.51.100.0/24"))
	if err != nil || len(r.Entries) != 0 || len(r.Findings) != 0 {
		t.Fatalf("other prefix: %+v %v", r, err)
	}
}
