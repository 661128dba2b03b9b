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
		body := strings.TrimSpace(string(b))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			body = e.Error
		}
		if resp.StatusCode == http.StatusNotFound {
			if body == "404 page not found" || body == "" {
				// Whatever answered does not know the path at all.
				return Report{}, fmt.Errorf("GET /api/v1/flaps: 404 from %s: it serves no flap tracker: %s", baseURL, ServedBy)
			}
			return Report{}, fmt.Errorf("GET /api/v1/flaps: 404 from %s: %s", baseURL, body)
		}
		return Report{}, fmt.Errorf("flap client: GET %s: %s: %s", u, resp.Status, body)
	}
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return Report{}, fmt.Errorf("flap client: GET %s: decoding: %w", u, err)
	}
	return r, nil
}
