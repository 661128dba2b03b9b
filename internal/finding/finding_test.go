package finding

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCatalogueCoversTheMatrix(t *testing.T) {
	for _, code := range []string{
		"bgp.session_down", "bgp.hold_timer_expired", "bgp.cease", "bgp.prefix_flapping",
		"bgp.prefix_dampened", "mtu.ptb_misdirected", "icmp.unreachable", "path.loss",
		"path.asymmetric", "catchment.misdirected_continent", "thermal.throttling",
		"host.overloaded", "optics.rx_power_low",
	} {
		if _, ok := Lookup(code); !ok {
			t.Errorf("catalogue lacks %s", code)
		}
	}
}

func TestCatalogueCodesAreNamespaced(t *testing.T) {
	for _, c := range Catalogue() {
		if !strings.HasPrefix(c.Code, c.Area+".") && !(c.Area == "mtu" && strings.HasPrefix(c.Code, "icmp.")) &&
			!(c.Area == "agent" && strings.HasPrefix(c.Code, "collector.")) {
			t.Errorf("code %s is not under its area %s", c.Code, c.Area)
		}
	}
}

func TestParseCatalogueRejectsDuplicates(t *testing.T) {
	_, err := parseCatalogue([]byte("- {code: a.b, area: a, title: t, advice: x}\n- {code: a.b, area: a, title: t, advice: x}\n"))
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("want duplicate error, got %v", err)
	}
}

func TestFindingJSONContract(t *testing.T) {
	f := New("bgp.hold_timer_expired", "router 198.51.100.1 peer 203.0.113.2", "hold timer expired",
		nil, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"code", "severity", "subject", "summary", "evidence", "advice", "since"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["severity"] != "critical" {
		t.Errorf("severity = %v, want critical", m["severity"])
	}
	if _, ok := m["evidence"].(map[string]any); !ok {
		t.Errorf("evidence is not an object: %s", b)
	}
	var back Finding
	if err := json.Unmarshal(b, &back); err != nil || back.Severity != Critical {
		t.Fatalf("round trip: %v %v", back.Severity, err)
	}
}

func TestSortWorstFirst(t *testing.T) {
	fs := []Finding{
		{Code: "b", Severity: Info}, {Code: "a", Severity: Critical}, {Code: "c", Severity: Warning},
	}
	Sort(fs)
	if fs[0].Code != "a" || fs[1].Code != "c" || fs[2].Code != "b" {
		t.Fatalf("order: %v", fs)
	}
	if w, _ := Worst(fs); w != Critical {
		t.Fatalf("worst = %v", w)
	}
}
