package main

import (
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/dampening"
	"github.com/anydiag/anydiag/analyzers/flap"
)

func TestFlapsCommand(t *testing.T) {
	set, err := flap.NewSet(dampening.Cisco, dampening.Juniper)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	own := netip.MustParsePrefix("192.0.2.0/24")
	// W, A, W, A, W at t0: Cisco 3000, suppressed, reuse in 900 × log2(4) = 30 min.
	for _, k := range []flap.Kind{flap.Withdraw, flap.Announce, flap.Withdraw, flap.Announce, flap.Withdraw} {
		set.Observe(flap.Event{Time: t0, Router: "203.0.113.1", Peer: "198.51.100.2", Prefix: own, Kind: k})
	}
	srv := httptest.NewServer(&flap.Handler{Set: set, Now: func() time.Time { return t0 }, Own: []netip.Prefix{own}})
	defer srv.Close()

	code, out, errs := runCLI(t, "flaps", "--collector", srv.URL)
	if code != exitFindings || !strings.Contains(out, "SUPPRESSED") || !strings.Contains(out, "30m0s") || !strings.Contains(out, "bgp.prefix_dampened") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "flaps", "--collector", srv.URL, "--profile", "juniper", "--json")
	var rep flap.Report
	if code != exitFindings || json.Unmarshal([]byte(out), &rep) != nil || rep.Profile.Name != "juniper" || rep.Entries[0].Penalty != 5000 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ := runCLI(t, "flaps", "--collector", srv.URL, "--profile", "/nonexistent.yaml"); code != exitUsage {
		t.Fatalf("missing profile file: exit %d", code)
	}
	if code, _, _ := runCLI(t, "flaps", "--collector", "http://127.0.0.1:1"); code != exitRuntime {
		t.Fatalf("no station: exit %d", code)
	}
}
