package bmp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/anydiag/anydiag/internal/httpjson"
)

// Client reads a station's HTTP API (the CLI's `bgp peers` and `bgp routes`,
// the policy's fleet guard) through internal/httpjson.
// Routes and Peers follow the pages (X-Next-Cursor) to the end.
type Client struct {
	// BaseURL is the station's HTTP address, "http://127.0.0.1:8080".
	BaseURL string
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
	// PageSize is the ?limit= asked for (default: the station's).
	PageSize int
}

// NotServedHint says who serves the BMP API, for a client that got a 404:
// a bare 404 from an agent without a station says nothing useful.
const NotServedHint = "the agent serves /api/v1/bmp/* when collectors.bmp.enabled is true in its configuration; `anydiag bmp serve --http ADDR:PORT` serves it too"

// get fetches one page into v and returns the next page's cursor.
func (c *Client) get(ctx context.Context, path string, query url.Values, v any) (string, error) {
	h, err := httpjson.Client{BaseURL: c.BaseURL, HTTP: c.HTTP}.Get(ctx, path, query, v)
	if err != nil {
		var se *httpjson.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			return "", fmt.Errorf("bmp client: GET %s: 404 from %s (%s): %s", path, c.BaseURL, se.Message(), NotServedHint)
		}
		return "", fmt.Errorf("bmp client: %w", err)
	}
	return h.Get(NextCursorHeader), nil
}

// pages calls get for every page of path.
func pages[T any](ctx context.Context, c *Client, path string, v url.Values, fn func([]T) error) error {
	if c.PageSize > 0 {
		v.Set("limit", strconv.Itoa(c.PageSize))
	}
	seen := map[string]bool{}
	for {
		var page []T
		next, err := c.get(ctx, path, v, &page)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("bmp client: GET %s: the station returned cursor %q twice", path, next)
		}
		seen[next] = true
		v.Set("cursor", next)
	}
}

// Routers fetches GET /api/v1/bmp/routers.
func (c *Client) Routers(ctx context.Context) ([]RouterInfo, error) {
	var out []RouterInfo
	_, err := c.get(ctx, "/api/v1/bmp/routers", nil, &out)
	return out, err
}

// Peers fetches every page of GET /api/v1/bmp/peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	out := []PeerInfo{}
	err := pages(ctx, c, "/api/v1/bmp/peers", url.Values{}, func(p []PeerInfo) error {
		out = append(out, p...)
		return nil
	})
	return out, err
}

// Routes fetches every page of GET /api/v1/bmp/routes with q's filters.
func (c *Client) Routes(ctx context.Context, q RouteQuery) ([]RouteInfo, error) {
	out := []RouteInfo{}
	err := c.EachRoutes(ctx, q, func(p []RouteInfo) error {
		out = append(out, p...)
		return nil
	})
	return out, err
}

// EachRoutes calls fn with each page of the routes q selects, so that a
// caller can process a large table without holding all of it.
func (c *Client) EachRoutes(ctx context.Context, q RouteQuery, fn func([]RouteInfo) error) error {
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
	if q.PeerType != "" {
		v.Set("peer_type", q.PeerType)
	}
	if q.Distinguisher != "" {
		v.Set("distinguisher", q.Distinguisher)
	}
	return pages(ctx, c, "/api/v1/bmp/routes", v, fn)
}
