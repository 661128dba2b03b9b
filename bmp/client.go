package bmp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client reads a station's HTTP API (the CLI's `bgp peers` and `bgp routes`).
type Client struct {
	// BaseURL is the station's HTTP address, "http://127.0.0.1:8080".
	BaseURL string
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
}

func (c *Client) get(ctx context.Context, path string, query url.Values, v any) error {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("bmp client: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("bmp client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("bmp client: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("bmp client: GET %s: decoding: %w", u, err)
	}
	return nil
}

// Routers fetches GET /api/v1/bmp/routers.
func (c *Client) Routers(ctx context.Context) ([]RouterInfo, error) {
	var out []RouterInfo
	return out, c.get(ctx, "/api/v1/bmp/routers", nil, &out)
}

// Peers fetches GET /api/v1/bmp/peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	return out, c.get(ctx, "/api/v1/bmp/peers", nil, &out)
}

// Routes fetches GET /api/v1/bmp/routes with q's filters.
func (c *Client) Routes(ctx context.Context, q RouteQuery) ([]RouteInfo, error) {
	v := url.Values{}
	if q.Prefix.IsValid() {
		v.Set("prefix", q.Prefix.String())
	}
	if q.Router != "" {
		v.Set("router", q.Router)
	}
	if q.Peer.IsValid() {
		v.Set("peer", q.Peer.String())
	}
	if q.Table != "" {
		v.Set("table", q.Table)
	}
	var out []RouteInfo
	return out, c.get(ctx, "/api/v1/bmp/routes", v, &out)
}
