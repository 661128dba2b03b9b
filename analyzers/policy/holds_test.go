package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func firing(i int, p netip.Prefix, endsAt time.Time) Alert {
	return Alert{Fingerprint: fmt.Sprintf("fp%06d", i), Name: "ServiceDown", Firing: true, Prefix: p, Action: ActionWithdraw, StartsAt: t0, EndsAt: endsAt}
}

// 100 000 distinct firing alerts: the cap is held, the rest refused with a
// clear error, and no existing hold is evicted.
func TestAlertHoldsCapped(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	h.eval(0, Input{})
	ctx := context.Background()
	var alerts []Alert
	for i := range 100_000 {
		alerts = append(alerts, firing(i, pfx, time.Time{}))
	}
	ds, err := h.e.ApplyAlerts(ctx, alerts)
	var capErr *HoldsRefusedError
	if !errors.As(err, &capErr) || capErr.Refused != 100_000-DefaultMaxAlertHoldsPerPrefix || !strings.Contains(err.Error(), "max_alert_holds_per_prefix") {
		t.Fatalf("error %v", err)
	}
	if len(ds) != 1 || ds[0].Outcome != OutcomeApplied || h.sp.announced(pfx) {
		t.Fatalf("the held alerts must still act: %+v", ds)
	}
	x := h.e.Explain(ctx, h.now)
	if len(x.Prefixes[0].Holds) != 1 || !strings.Contains(x.Prefixes[0].Holds[0], "64 alert holds") {
		t.Fatalf("holds %v", x.Prefixes[0].Holds)
	}
	// The first 64 are the ones kept: resolving one frees a place for a new one.
	resolved := alerts[0]
	resolved.Firing = false
	if _, err := h.e.ApplyAlerts(ctx, []Alert{resolved, firing(200_000, pfx, time.Time{})}); err != nil {
		t.Fatalf("after a resolve: %v", err)
	}
	var b strings.Builder
	h.set.WritePrometheus(&b)
	for _, want := range []string{`anydiag_policy_alert_holds{prefix="192.0.2.1/32"} 64`, `anydiag_policy_alert_holds_refused_total 99936`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A hold expires at EndsAt, or alert_hold_ttl after the last notification
// when EndsAt is zero; NextDeadline schedules the expiry.
func TestAlertHoldsExpire(t *testing.T) {
	h := newHarness(t, Config{AlertHoldTTL: yamlconf.Duration(10 * time.Minute)}, nil)
	h.eval(0, Input{})
	ctx := context.Background()
	ends := t0.Add(5 * time.Minute)
	if _, err := h.e.ApplyAlerts(ctx, []Alert{firing(1, pfx, ends), firing(2, pfx2, time.Time{})}); err != nil {
		t.Fatal(err)
	}
	if h.sp.announced(pfx) || h.sp.announced(pfx2) {
		t.Fatalf("alerts did not withdraw: %v", h.sp.routes)
	}
	if got := h.e.NextDeadline(); !got.Equal(ends) {
		t.Fatalf("NextDeadline %s, want EndsAt %s", got, ends)
	}
	h.now = ends.Add(-time.Nanosecond)
	expect(t, h.eval(0, Input{}), "", "", "")
	h.now = ends
	expect(t, h.eval(0, Input{}), ActionAnnounce, OutcomeApplied, "")
	if h.sp.announced(pfx2) {
		t.Fatal("the TTL hold ended with the EndsAt one")
	}
	if got, want := h.e.NextDeadline(), t0.Add(10*time.Minute); !got.Equal(want) {
		t.Fatalf("NextDeadline %s, want the TTL end %s", got, want)
	}
	// A re-notification renews the hold; the old expiry is skipped.
	h.now = t0.Add(9 * time.Minute)
	if _, err := h.e.ApplyAlerts(ctx, []Alert{firing(2, pfx2, time.Time{})}); err != nil {
		t.Fatal(err)
	}
	h.now = t0.Add(10 * time.Minute)
	h.e.Evaluate(ctx, h.now, Input{})
	if h.sp.announced(pfx2) {
		t.Fatal("a renewed hold expired at its old time")
	}
	h.now = t0.Add(19 * time.Minute)
	h.e.Evaluate(ctx, h.now, Input{})
	if !h.sp.announced(pfx2) {
		t.Fatal("the renewed hold did not expire")
	}
}

// Evaluation cost does not grow with the number of holds.
func BenchmarkEvaluateWithManyHolds(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("holds=%d", n), func(b *testing.B) {
			e, err := NewEngine(Config{MaxAlertHoldsPerPrefix: n, Rules: withdrawOnWebDown()}, []netip.Prefix{pfx, pfx2},
				Options{Speaker: newFakeSpeaker(), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var alerts []Alert
			for i := range n {
				alerts = append(alerts, firing(i, pfx, t0.Add(24*time.Hour)))
			}
			if _, err := e.ApplyAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
			in := webUp()
			e.Evaluate(ctx, t0, in)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e.Evaluate(ctx, t0.Add(time.Duration(i)*time.Millisecond), in)
			}
		})
	}
}
