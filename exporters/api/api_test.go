package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/analyzers/policy"
	"github.com/anydiag/anydiag/internal/finding"
)

// fakeController records calls and refuses what refuse names.
type fakeController struct {
	calls  []string
	refuse bool
}

func (f *fakeController) result(call string, p netip.Prefix) (policy.Decision, error) {
	f.calls = append(f.calls, call)
	d := policy.Decision{Prefix: p, Action: policy.ActionWithdraw}
	if f.refuse {
		return d, errors.New("refused by the fleet guard")
	}
	return d, nil
}

func (f *fakeController) ManualWithdraw(_ context.Context, p netip.Prefix, reason string) (policy.Decision, error) {
	return f.result("withdraw "+p.String()+" "+reason, p)
}

func (f *fakeController) ManualAnnounce(_ context.Context, p netip.Prefix) (policy.Decision, error) {
	return f.result("announce "+p.String(), p)
}

func (f *fakeController) Drain(context.Context) ([]policy.Decision, error) {
	d, err := f.result("drain", netip.Prefix{})
	return []policy.Decision{d}, err
}

func (f *fakeController) Undrain(context.Context) ([]policy.Decision, error) {
	d, err := f.result("undrain", netip.Prefix{})
	return []policy.Decision{d}, err
}

const token = "0123456789abcdef0123"

func TestControl(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		auth   string
		body   string
		refuse bool
		code   int
		call   string // "" when the controller must not be called
		inBody string
	}{
		{"withdraw", "withdraw", "Bearer " + token, `{"prefix":"192.0.2.1/32","reason":"maintenance"}`, false, 200, "withdraw 192.0.2.1/32 maintenance", `"prefix": "192.0.2.1/32"`},
		{"announce", "announce", "Bearer " + token, `{"prefix":"2001:db8::1/128"}`, false, 200, "announce 2001:db8::1/128", ""},
		{"drain without body", "drain", "Bearer " + token, "", false, 200, "drain", ""},
		{"undrain", "undrain", "Bearer " + token, "", false, 200, "undrain", ""},
		{"refused is a conflict with the decisions", "withdraw", "Bearer " + token, `{"prefix":"192.0.2.1/32"}`, true, 409, "withdraw 192.0.2.1/32 ", `"decisions"`},
		{"no token", "withdraw", "", `{"prefix":"192.0.2.1/32"}`, false, 401, "", "bearer token"},
		{"wrong token", "drain", "Bearer nope", "", false, 401, "", "bearer token"},
		{"not bearer", "drain", token, "", false, 401, "", "bearer token"},
		{"bad JSON", "withdraw", "Bearer " + token, `{"prefix":`, false, 400, "", "invalid JSON body"},
		{"body too large", "withdraw", "Bearer " + token, `{"reason":"` + strings.Repeat("x", maxBody) + `"}`, false, 400, "", "invalid JSON body"},
		{"bad prefix", "withdraw", "Bearer " + token, `{"prefix":"192.0.2.1"}`, false, 400, "", "e.g. 192.0.2.1/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeController{refuse: tt.refuse}
			woken := 0
			mux := http.NewServeMux()
			MountControl(mux, c, token, func() { woken++ })
			req := httptest.NewRequest("POST", "/api/v1/control/"+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.inBody) {
				t.Fatalf("%d %s, want %d with %q", rec.Code, rec.Body, tt.code, tt.inBody)
			}
			if got := strings.Join(c.calls, ";"); got != tt.call {
				t.Errorf("calls = %q, want %q", got, tt.call)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", rec.Header().Get("Content-Type"))
			}
			// Only requests that got past authentication and decoding wake
			// the policy.
			if wantWake := tt.code == 200 || tt.code == 409 || (tt.code == 400 && strings.Contains(tt.inBody, "e.g.")); (woken == 1) != wantWake {
				t.Errorf("woken %d times", woken)
			}
		})
	}
}

// Without a token the control API is not there at all.
func TestControlWithoutTokenIsNotServed(t *testing.T) {
	c := &fakeController{}
	mux := http.NewServeMux()
	MountControl(mux, c, "", nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/control/drain", nil))
	if rec.Code != http.StatusNotFound || len(c.calls) != 0 {
		t.Errorf("%d, calls %v", rec.Code, c.calls)
	}
}

func TestFindingsAndStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	Findings(func() []finding.Finding { return nil }).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/findings", nil))
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("no findings: %q, want []", rec.Body)
	}
	f := finding.New("link.down", "eth0", "down", nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec = httptest.NewRecorder()
	Findings(func() []finding.Finding { return []finding.Finding{f} }).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/findings", nil))
	var got []finding.Finding
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got[0].Code != "link.down" {
		t.Errorf("findings: %v %s", err, rec.Body)
	}
	rec = httptest.NewRecorder()
	Status(func() any { return map[string]int{"findings": 1} }).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"findings": 1`) {
		t.Errorf("status: %d %s", rec.Code, rec.Body)
	}
}

func TestNotHere(t *testing.T) {
	rec := httptest.NewRecorder()
	NotHere("this agent runs no BMP station: enable collectors.bmp").ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/bmp/peers", nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusNotFound || err != nil || !strings.Contains(body["error"], "enable collectors.bmp") {
		t.Errorf("%d %s (%v)", rec.Code, rec.Body, err)
	}
}
