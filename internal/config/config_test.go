package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func examples(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples")
}

func TestExampleIsValid(t *testing.T) {
	// The example names token files under /etc/anydiag, which a test
	// machine does not have.
	c, err := LoadSkippingFiles(filepath.Join(examples(t), "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Name != "fra1" || len(c.Anycast.Prefixes) != 2 || c.Anycast.Canary == nil {
		t.Fatalf("decoded %+v", c)
	}
	if c.Exporters.Listen.String() != "127.0.0.1:9178" {
		t.Errorf("listen = %s", c.Exporters.Listen)
	}
}

func TestBrokenExampleReportsEveryProblem(t *testing.T) {
	_, err := Load(filepath.Join(examples(t), "broken", "agent.yaml"))
	var e *yamlconf.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *yamlconf.Error, got %v", err)
	}
	wantKeys := []string{
		"node", "node.name", "node.continent", "node.latitude", "anycast.prefixes[1]",
		"anycast.prefixes[2]", "collectors.optics.interval", "collectors.optics.rx_power_dbm",
		"collectors.thermal.interval", "collectors.host.encapsulations[0].kind", "exporters.listen",
		"exporters.colour", "policy.rules[0].action", "policy.rules[0].when.check", "policy.rules[0].prefixes[0]",
	}
	got := map[string]int{}
	for _, p := range e.Problems {
		got[p.Key] = p.Line
		if p.Line == 0 {
			t.Errorf("problem without a line: %+v", p)
		}
	}
	for _, k := range wantKeys {
		if _, ok := got[k]; !ok {
			t.Errorf("no problem reported for %s; got %v", k, err)
		}
	}
	if len(e.Problems) != len(wantKeys) {
		t.Errorf("got %d problems, want %d:\n%v", len(e.Problems), len(wantKeys), err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte("node: {name: a}\nanycast: {prefixes: [192.0.2.1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Anycast.Interface != "lo" || c.Collectors.Thermal.SysfsRoot != "/sys" || c.Collectors.Link.Interval.D().Seconds() != 10 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.Anycast.Prefixes[0].String() != "192.0.2.1/32" {
		t.Errorf("bare address not read as host route: %s", c.Anycast.Prefixes[0])
	}
}

func TestDuplicateAndCanary(t *testing.T) {
	_, err := Parse("d.yaml", []byte("node: {name: a}\nanycast:\n  prefixes: [192.0.2.1/32, 192.0.2.1/32]\n  canary: 192.0.2.1/32\n"))
	if err == nil || !strings.Contains(err.Error(), "listed twice") || !strings.Contains(err.Error(), "canary") {
		t.Fatalf("got %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("got %v", err)
	}
	if _, statErr := os.Stat("nope.yaml"); statErr == nil {
		t.Fatal("unexpected file")
	}
}

// Every collector's section is defaulted by its own package through
// Collectors.each, which visits each field under its YAML key.
func TestCollectorSectionsDefaulted(t *testing.T) {
	c, err := Parse("t.yaml", []byte("node: {name: t}\nanycast: {prefixes: [192.0.2.1/32]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Collectors
	got := []time.Duration{cc.Optics.Interval.D(), cc.Thermal.Interval.D(), cc.Link.Interval.D(), cc.Host.Interval.D()}
	if want := []time.Duration{30 * time.Second, 15 * time.Second, 10 * time.Second, time.Minute}; !slices.Equal(got, want) {
		t.Errorf("intervals %v, want %v", got, want)
	}
	var paths []string
	cc.each(func(path string, _ any) { paths = append(paths, path) })
	if want := []string{"collectors.optics", "collectors.thermal", "collectors.link", "collectors.host", "collectors.bmp"}; !slices.Equal(paths, want) {
		t.Errorf("each visits %v, want %v", paths, want)
	}
}
