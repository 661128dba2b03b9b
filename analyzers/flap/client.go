package flap

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// FetchReport reads GET {baseURL}/api/v1/flaps from a station or agent that
// mounts Handler. prefix may be the zero Prefix.
func FetchReport(ctx context.Context, hc *http.Client, baseURL, profile string, prefix netip.Prefix) (Report, error) {
	q := url.Values{}
	if profile != "" {
		q.Set("profile", profile)
	}
	if prefix.IsValid() {
		q.Set("prefix", prefix.String())
	}
	u := strings.TrimRight(baseURL, "/") + "/api/v1/flaps"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Report{}, fmt.Errorf("flap client: %w", err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Report{}, fmt.Errorf("flap client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return Report{}, fmt.Errorf("flap client: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return Report{}, fmt.Errorf("flap client: GET %s: decoding: %w", u, err)
	}
	return r, nil
}
