package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anydiag/anydiag/bmp"
	"github.com/anydiag/anydiag/internal/httpjson"
)

// FleetCounter counts the PoPs that currently announce a prefix, this node
// included when it announces.
type FleetCounter interface {
	Announcing(ctx context.Context, prefix netip.Prefix) (int, error)
}

// maxAPIBytes bounds the answers read from Prometheus (the BMP collector's
// are bounded by its page size).
const maxAPIBytes = 16 << 20

// NewFleetCounter builds the counter a checked FleetGuardConfig describes; it
// returns nil when the guard is disabled.
func NewFleetCounter(c FleetGuardConfig, client *http.Client) (FleetCounter, error) {
	if c.MinAnnouncing == 0 {
		return nil, nil
	}
	if client == nil {
		timeout := c.Timeout.D()
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		client = &http.Client{Timeout: timeout}
	}
	base := strings.TrimRight(c.URL, "/")
	switch c.Source {
	case SourceBMP:
		return &BMPCounter{BaseURL: base, Client: client, CountBy: c.CountBy, Pops: c.Pops, Table: c.Table}, nil
	case SourcePromQL:
		return &PromQLCounter{BaseURL: base, Client: client, Query: c.Query}, nil
	}
	return nil, fmt.Errorf("fleet guard: unknown source %q", c.Source)
}

// BMPCounter counts distinct origins, next hops or PoPs among the routes a
// BMP collector reports for the prefix (GET /api/v1/bmp/routes?prefix=P,
// every page).
type BMPCounter struct {
	BaseURL string
	Client  *http.Client
	// CountBy is origin (default), next_hop or pop.
	CountBy string
	// Pops maps a next hop to its PoP for CountBy pop; unmapped next hops are
	// not counted, so that an unknown route never props the count up.
	Pops  map[string]string
	Table string
}

// Announcing implements FleetCounter.
func (b *BMPCounter) Announcing(ctx context.Context, prefix netip.Prefix) (int, error) {
	cl := &bmp.Client{BaseURL: b.BaseURL, HTTP: b.Client}
	seen := map[string]bool{}
	err := cl.EachRoutes(ctx, bmp.RouteQuery{Prefix: prefix, Table: b.Table}, func(routes []bmp.RouteInfo) error {
		for _, r := range routes {
			if r.Prefix != prefix.String() {
				continue
			}
			var key string
			switch b.CountBy {
			case "next_hop":
				key = r.NextHop
			case "pop":
				key = b.Pops[r.NextHop]
			default:
				if len(r.ASPath) > 0 {
					key = strconv.FormatUint(uint64(r.ASPath[len(r.ASPath)-1]), 10)
				}
			}
			if key != "" {
				seen[key] = true
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fleet guard: %w", err)
	}
	return len(seen), nil
}

// PromQLCounter evaluates an instant query against Prometheus or
// VictoriaMetrics (GET /api/v1/query). The query's "$prefix" is replaced by
// the prefix; its one sample's value is the count. An empty result counts
// zero, which refuses the withdrawal: the safe side.
type PromQLCounter struct {
	BaseURL string
	Client  *http.Client
	Query   string
}

type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Announcing implements FleetCounter.
func (p *PromQLCounter) Announcing(ctx context.Context, prefix netip.Prefix) (int, error) {
	query := strings.ReplaceAll(p.Query, "$prefix", prefix.String())
	var resp promResponse
	cl := httpjson.Client{BaseURL: p.BaseURL, HTTP: p.Client, MaxBytes: maxAPIBytes}
	if _, err := cl.Get(ctx, "/api/v1/query", url.Values{"query": {query}}, &resp); err != nil {
		// Prometheus answers bad queries with 400 or 422 and a JSON error
		// body worth decoding.
		var se *httpjson.StatusError
		if !errors.As(err, &se) || (se.Code != http.StatusBadRequest && se.Code != http.StatusUnprocessableEntity) || json.Unmarshal(se.Body, &resp) != nil {
			return 0, fmt.Errorf("fleet guard: promql: %w", err)
		}
	}
	if resp.Status != "success" {
		return 0, fmt.Errorf("fleet guard: promql %q: %s: %s", query, resp.ErrorType, resp.Error)
	}
	var value [2]any
	switch resp.Data.ResultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(resp.Data.Result, &v); err != nil {
			return 0, fmt.Errorf("fleet guard: promql: decoding vector: %w", err)
		}
		switch len(v) {
		case 0:
			return 0, nil
		case 1:
			value = v[0].Value
		default:
			return 0, fmt.Errorf("fleet guard: promql %q returned %d series; it must return one (wrap it in count() or sum())", query, len(v))
		}
	case "scalar":
		if err := json.Unmarshal(resp.Data.Result, &value); err != nil {
			return 0, fmt.Errorf("fleet guard: promql: decoding scalar: %w", err)
		}
	default:
		return 0, fmt.Errorf("fleet guard: promql %q returned a %s; want a vector or scalar", query, resp.Data.ResultType)
	}
	s, ok := value[1].(string)
	if !ok {
		return 0, fmt.Errorf("fleet guard: promql: sample value %v is not a string", value[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, fmt.Errorf("fleet guard: promql: sample value %q is not a count", s)
	}
	return int(f), nil
}
