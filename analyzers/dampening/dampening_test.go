package dampening

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestVendorDefaults checks the built-in profiles against RFC 7196's Table 1
// (Cisco: withdrawal 1000, suppress 2000, reuse 750, half-life 15 min, max
// suppress 60 min; Juniper: 1000/3000/750/15 min/60 min, and 1000 for a
// re-advertisement) and the figures derived from them by hand.
func TestVendorDefaults(t *testing.T) {
	tests := []struct {
		p                               Profile
		withdraw, readvertise, suppress float64
		reuse                           float64
		halfLife, maxSuppress           time.Duration
		ceiling                         float64
		withdrawalsToSuppress           int
		reuseAfterSuppression           time.Duration
	}{
		{
			p: Cisco, withdraw: 1000, readvertise: 0, suppress: 2000, reuse: 750,
			halfLife: 15 * time.Minute, maxSuppress: 60 * time.Minute,
			// 750 × 2^(60/15) = 750 × 16 = 12000.
			ceiling: 12000,
			// Back-to-back withdrawals (re-advertisement free): 1000, 2000, 3000;
			// suppression needs p > 2000, so the third.
			withdrawalsToSuppress: 3,
			// From 3000: 900 s × log2(3000/750) = 900 × 2 = 1800 s.
			reuseAfterSuppression: 30 * time.Minute,
		},
		{
			p: Juniper, withdraw: 1000, readvertise: 1000, suppress: 3000, reuse: 750,
			halfLife: 15 * time.Minute, maxSuppress: 60 * time.Minute,
			ceiling: 12000,
			// W, A, W, A: 1000, 2000, 3000, 4000; the first above 3000 is the
			// fourth event, after two withdrawals and two re-advertisements.
			withdrawalsToSuppress: 2,
			// From 4000: 900 s × log2(4000/750) = 900 × 2.4150375 = 2173.5337 s.
			reuseAfterSuppression: 2173533749 * time.Microsecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.p.Name, func(t *testing.T) {
			p := tc.p
			if p.WithdrawalPenalty != tc.withdraw || p.ReadvertisementPenalty != tc.readvertise ||
				p.SuppressThreshold != tc.suppress || p.ReuseThreshold != tc.reuse ||
				p.HalfLife != tc.halfLife || p.MaxSuppress != tc.maxSuppress || p.AttributeChangePenalty != 500 {
				t.Fatalf("profile %+v differs from RFC 7196 Table 1", p)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if c := p.Ceiling(); c != tc.ceiling {
				t.Fatalf("ceiling %v, want %v", c, tc.ceiling)
			}
			var pen float64
			withdrawals := 0
			for pen <= p.SuppressThreshold {
				pen = p.Add(pen, 0, p.WithdrawalPenalty)
				withdrawals++
				if pen > p.SuppressThreshold {
					break
				}
				pen = p.Add(pen, 0, p.ReadvertisementPenalty)
			}
			if withdrawals != tc.withdrawalsToSuppress {
				t.Fatalf("suppressed after %d withdrawals (penalty %v), want %d", withdrawals, pen, tc.withdrawalsToSuppress)
			}
			got := DecayTime(pen, p.ReuseThreshold, p.HalfLife)
			if d := got - tc.reuseAfterSuppression; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("reuse in %s, want %s", got, tc.reuseAfterSuppression)
			}
			// A route at the ceiling is reused after exactly max suppress:
			// 900 × log2(12000/750) = 900 × 4 = 3600 s.
			if got := DecayTime(p.Ceiling(), p.ReuseThreshold, p.HalfLife); got != p.MaxSuppress {
				t.Fatalf("reuse from the ceiling in %s, want %s", got, p.MaxSuppress)
			}
		})
	}
}

// TestRFC7196Recommendation: RFC 7196 recommends a suppress threshold of at
// least 6000 so that a few flaps do not suppress a route. Neither vendor
// default follows it (hence anydiag's findings), and a profile that does is
// valid: with withdrawals every 15 minutes the penalty converges to
// 1000 / (1 − 2^-1) = 2000 and never reaches 6000.
func TestRFC7196Recommendation(t *testing.T) {
	for _, p := range []Profile{Cisco, Juniper} {
		if p.SuppressThreshold >= 6000 {
			t.Fatalf("%s suppresses at %v: the built-in profiles are meant to be the vendors' defaults", p.Name, p.SuppressThreshold)
		}
	}
	p := Cisco
	p.Name, p.SuppressThreshold = "rfc7196", 6000
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	var pen float64
	for i := 0; i < 100; i++ {
		pen = p.Add(pen, 15*time.Minute, p.WithdrawalPenalty)
	}
	if math.Abs(pen-2000) > 1e-6 || pen > p.SuppressThreshold {
		t.Fatalf("penalty after 100 withdrawals 15 min apart: %v, want 2000", pen)
	}
}

func TestDecay(t *testing.T) {
	h := 15 * time.Minute
	tests := []struct {
		name    string
		p       float64
		elapsed time.Duration
		want    float64
	}{
		{"one half-life halves", 1000, h, 500},
		{"two half-lives quarter", 1000, 2 * h, 250},
		// 1000 × 2^(-90/900) = 1000 × 0.933033 = 933.033.
		{"90 s", 1000, 90 * time.Second, 933.0329915368074},
		{"no time", 1000, 0, 1000},
		{"time backwards decays nothing", 1000, -time.Hour, 1000},
		{"zero stays zero", 0, h, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decay(tc.p, tc.elapsed, h); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("Decay(%v, %s) = %v, want %v", tc.p, tc.elapsed, got, tc.want)
			}
		})
	}
}

func TestDecayTime(t *testing.T) {
	h := 15 * time.Minute
	tests := []struct {
		name            string
		penalty, target float64
		want            time.Duration
	}{
		{"already below", 500, 750, 0},
		{"equal", 750, 750, 0},
		// 900 s × log2(3000/750) = 900 × 2.
		{"two half-lives", 3000, 750, 30 * time.Minute},
		// 900 s × log2(2750/750) = 900 × 1.874469 = 1687.022206 s.
		{"cisco example", 2750, 750, 1687022206125},
		{"target never reached", 1000, 0, time.Duration(math.MaxInt64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DecayTime(tc.penalty, tc.target, h)
			if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("DecayTime(%v, %v) = %d, want %d", tc.penalty, tc.target, got, tc.want)
			}
			// Waiting that long is enough: the decayed penalty is at or below target.
			if tc.target > 0 && Decay(tc.penalty, got, h) > tc.target {
				t.Fatalf("after %s the penalty is %v, above %v", got, Decay(tc.penalty, got, h), tc.target)
			}
		})
	}
}

func TestAddCapsAtCeiling(t *testing.T) {
	// 20 back-to-back withdrawals would be 20000; the ceiling is 12000.
	var pen float64
	for i := 0; i < 20; i++ {
		pen = Cisco.Add(pen, 0, Cisco.WithdrawalPenalty)
	}
	if pen != 12000 {
		t.Fatalf("penalty %v, want the ceiling 12000", pen)
	}
}

func TestParseProfile(t *testing.T) {
	good := "name: mine\nwithdrawal_penalty: 1000\nreadvertisement_penalty: 0\nattribute_change_penalty: 500\n" +
		"suppress_threshold: 6000\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n"
	p, err := ParseProfile([]byte(good))
	if err != nil || p.SuppressThreshold != 6000 || p.HalfLife != 15*time.Minute {
		t.Fatalf("%+v %v", p, err)
	}
	bad := map[string]string{
		"unknown key":      good + "colour: red\n",
		"suppress<=reuse":  "name: x\nsuppress_threshold: 700\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n",
		"ceiling too low":  "name: x\nwithdrawal_penalty: 1000\nsuppress_threshold: 3000\nreuse_threshold: 750\nhalf_life: 30m\nmax_suppress: 30m\n",
		"no half-life":     "name: x\nsuppress_threshold: 2000\nreuse_threshold: 750\nmax_suppress: 60m\n",
		"negative penalty": "name: x\nwithdrawal_penalty: -1\nsuppress_threshold: 2000\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n",
		"not yaml":         "{{",
		"duration garbage": "name: x\nhalf_life: soon\n",
		"missing name":     "suppress_threshold: 2000\nreuse_threshold: 750\nhalf_life: 15m\nmax_suppress: 60m\n",
	}
	for name, doc := range bad {
		if _, err := ParseProfile([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if p, err := LoadProfile("juniper"); err != nil || p != Juniper {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := LoadProfile("/nonexistent/profile.yaml"); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestProfileJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(Juniper)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"juniper","withdrawal_penalty":1000,"readvertisement_penalty":1000,"attribute_change_penalty":500,` +
		`"suppress_threshold":3000,"reuse_threshold":750,"half_life_seconds":900,"max_suppress_seconds":3600,"ceiling":12000}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil || p != Juniper {
		t.Fatalf("%+v %v", p, err)
	}
}
