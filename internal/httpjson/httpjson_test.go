package httpjson

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("X-Next-Cursor", "c1")
			io.WriteString(w, `{"n":`+r.URL.Query().Get("n")+`}`)
		case "/json-error":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not tracked here"}`)
		case "/text-error":
			http.Error(w, "collector starting", http.StatusServiceUnavailable)
		case "/bad-json":
			io.WriteString(w, `{"n":`)
		case "/big":
			io.WriteString(w, `{"n":1,"pad":"`+strings.Repeat("x", 200)+`"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	tests := []struct {
		name     string
		path     string
		query    url.Values
		max      int64
		want     int
		cursor   string
		status   int
		errParts []string
	}{
		{name: "decodes and returns the header", path: "/ok", query: url.Values{"n": {"7"}}, want: 7, cursor: "c1"},
		{name: "trailing slash of the base is ignored", path: "/ok", query: url.Values{"n": {"3"}}, want: 3, cursor: "c1"},
		{name: "JSON error body gives its message", path: "/json-error", status: 404, errParts: []string{"HTTP 404", "not tracked here"}},
		{name: "text error body is kept", path: "/text-error", status: 503, errParts: []string{"HTTP 503", "collector starting"}},
		{name: "bare 404", path: "/nowhere", status: 404, errParts: []string{"HTTP 404", "404 page not found"}},
		{name: "broken JSON", path: "/bad-json", errParts: []string{"decoding"}},
		{name: "answer over the bound", path: "/big", max: 100, errParts: []string{"over 100 bytes"}},
		{name: "answer within the bound", path: "/big", max: 1000, want: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := srv.URL
			if i == 1 {
				base += "/"
			}
			var v struct{ N int }
			h, err := Client{BaseURL: base, MaxBytes: tt.max}.Get(context.Background(), tt.path, tt.query, &v)
			if got := Status(err); got != tt.status {
				t.Fatalf("Status(%v) = %d, want %d", err, got, tt.status)
			}
			if len(tt.errParts) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tt.errParts)
				}
				for _, p := range tt.errParts {
					if !strings.Contains(err.Error(), p) {
						t.Fatalf("error %q lacks %q", err, p)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.N != tt.want || h.Get("X-Next-Cursor") != tt.cursor {
				t.Fatalf("got %d, cursor %q; want %d, %q", v.N, h.Get("X-Next-Cursor"), tt.want, tt.cursor)
			}
		})
	}
}

func TestGetNothingListening(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	var v any
	_, err := Client{BaseURL: base}.Get(context.Background(), "/x", nil, &v)
	if err == nil || Status(err) != 0 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v", err)
	}
}
