package flap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/anydiag/anydiag/internal/httpjson"
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
	var r Report
	if _, err := (httpjson.Client{BaseURL: baseURL, HTTP: hc}).Get(ctx, "/api/v1/flaps", q, &r); err != nil {
		var se *httpjson.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			if body := se.Message(); body != "404 page not found" && body != "" {
				return Report{}, fmt.Errorf("GET /api/v1/flaps: 404 from %s: %s", baseURL, body)
			}
			// Whatever answered does not know the path at all.
			return Report{}, fmt.Errorf("GET /api/v1/flaps: 404 from %s: it serves no flap tracker: %s", baseURL, ServedBy)
		}
		return Report{}, fmt.Errorf("flap client: %w", err)
	}
	return r, nil
}
