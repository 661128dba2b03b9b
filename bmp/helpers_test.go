package bmp_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// testLogWriter sends station logs to stderr with BMP_TEST_LOG=1, else discards them.
func testLogWriter() io.Writer {
	if os.Getenv("BMP_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(testLogWriter(), nil)) }

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
