package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems parses doc and returns the problems by key (errors) and the
// warnings by key.
func problems(t *testing.T, doc string) (map[string]string, map[string]string) {
	t.Helper()
	errs, warns := map[string]string{}, map[string]string{}
	c, err := Parse("c.yaml", []byte(doc))
	var e *yamlconf.Error
	switch {
	case errors.As(err, &e):
		for _, p := range e.Problems {
			errs[p.Key] = p.Msg
		}
	case err != nil:
		t.Fatal(err)
	default:
		for _, w := range c.Warnings() {
			warns[w.Key] = w.Msg
		}
	}
	return errs, warns
}

// Config check refuses what the agent refuses at start.
func TestCrossSectionChecks(t *testing.T) {
	short := writeSecret(t, "s3cret", 0o600)
	open := writeSecret(t, "0123456789abcdef0123", 0o644)
	good := writeSecret(t, "0123456789abcdef0123", 0o600)
	base := "node: {name: a}\nanycast: {prefixes: [192.0.2.1/32]}\n"
	health := "health: {checks: [{name: web, type: tcp, address: '127.0.0.1:80', interval: 1s, timeout: 500ms}]}\n"
	cases := []struct {
		name, doc, key, want string
	}{
		{"unknown check", base + health + "speaker: {gobgp: {asn: 64500, router_id: 192.0.2.9}}\npolicy: {rules: [{when: {check: wbe, state: down}, action: withdraw}]}\n",
			"policy.rules[0].when.check", `no health check is named "wbe" (health.checks names: web)`},
		{"prefix outside anycast", base + health + "speaker: {gobgp: {asn: 64500, router_id: 192.0.2.9}}\npolicy: {rules: [{when: {check: web, state: down}, action: withdraw, prefixes: [192.0.2.2/32]}]}\n",
			"policy.rules[0].prefixes[0]", "192.0.2.2/32 is not one of anycast.prefixes"},
		{"degrade on bird", base + "speaker: {bird: {prefixes: [{prefix: 192.0.2.1/32, protocol: anycast1}]}}\npolicy: {degrade: {med: 100, before_withdraw: 30s}}\n",
			"policy.degrade.before_withdraw", "the bird speaker cannot"},
		{"degrade rule on frr", base + health + "speaker: {frr: {asn: 64500}}\npolicy: {degrade: {prepend: 3}, rules: [{when: {check: web, state: down}, action: degrade}]}\n",
			"policy.rules[0].action", "the frr speaker cannot"},
		// The speaker's capabilities say what it cannot do: the message
		// names the attributes and the speakers that can set them.
		{"graceful shutdown on frr", base + "speaker: {frr: {asn: 64500}}\npolicy: {degrade: {graceful_shutdown: true, before_withdraw: 30s}}\n",
			"policy.degrade.before_withdraw", "degrade asks for communities, which the frr speaker cannot set at run time: use a speaker that can (gobgp, gobgpapi)"},
		{"rule's own degrade on bird", base + health + "speaker: {bird: {prefixes: [{prefix: 192.0.2.1/32, protocol: anycast1}]}}\n" +
			"policy: {rules: [{when: {check: web, state: down}, action: degrade, degrade: {med: 5, communities: ['65010:1:2']}}]}\n",
			"policy.rules[0].action", "degrade asks for MED, large communities, which the bird speaker cannot"},
		{"short token", base + "exporters: {token_file: " + short + "}\n", "exporters.token_file", "fewer than 16"},
		{"open token", base + "exporters: {token_file: " + open + "}\n", "exporters.token_file", "chmod 600"},
		{"short webhook token", base + "exporters: {alertmanager: {token_file: " + short + "}}\n", "exporters.alertmanager.token_file", "fewer than 16"},
		{"too many prefixes", "node: {name: a}\nanycast: {prefixes: [" + manyPrefixes(MaxPrefixes+1) + "]}\n", "anycast.prefixes", "more than the 1024"},
		{"eeprom_files as a list", base + "collectors: {optics: {eeprom_files: [/tmp/eth0.bin]}}\n",
			"collectors.optics.eeprom_files", "eeprom_files maps an interface name to the file holding its raw EEPROM dump"},
	}
	for _, c := range cases {
		errs, _ := problems(t, c.doc)
		if !strings.Contains(errs[c.key], c.want) {
			t.Errorf("%s: problem at %s = %q, want %q (all: %v)", c.name, c.key, errs[c.key], c.want, errs)
		}
	}
	// The same settings done right pass.
	ok := base + health + "speaker: {gobgp: {asn: 64500, router_id: 192.0.2.9, neighbors: [{address: 127.0.0.2, asn: 65001}]}}\n" +
		"policy: {degrade: {med: 100}, rules: [{when: {check: web, state: down}, action: degrade, prefixes: [192.0.2.1/32]}]}\n" +
		"exporters: {token_file: " + good + ", alertmanager: {token_file: " + good + "}}\n"
	if errs, warns := problems(t, ok); len(errs) != 0 || len(warns) != 0 {
		t.Errorf("valid configuration refused: %v, warnings %v", errs, warns)
	}
	// gobgpapi sets every attribute, large communities and well-known
	// names included; bird and frr accept a policy that never degrades.
	for name, doc := range map[string]string{
		"gobgpapi degrades": base + health + "speaker: {gobgpapi: {address: '127.0.0.1:50051'}}\n" +
			"policy: {degrade: {med: 1, prepend: 2, graceful_shutdown: true, communities: [NO_EXPORT, '65010:1:2'], before_withdraw: 10s}, " +
			"rules: [{when: {check: web, state: down}, action: degrade}]}\n",
		"bird withdraws": base + health + "speaker: {bird: {prefixes: [{prefix: 192.0.2.1/32, protocol: anycast1}]}}\n" +
			"policy: {degrade: {med: 1}, rules: [{when: {check: web, state: down}, action: withdraw}]}\n",
	} {
		if errs, _ := problems(t, doc); len(errs) != 0 {
			t.Errorf("%s: refused: %v", name, errs)
		}
	}
}

func manyPrefixes(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("10.%d.%d.1/32", i/256, i%256)
	}
	return strings.Join(s, ", ")
}

func TestWarnings(t *testing.T) {
	base := "node: {name: a}\nanycast: {prefixes: [192.0.2.1/32]}\n"
	cases := []struct {
		name, doc, key, want string
	}{
		{"listen on all addresses", base + "exporters: {listen: '0.0.0.0:9178'}\n", "exporters.listen", "without TLS"},
		{"insecure webhook", base + "exporters: {alertmanager: {insecure: true}}\n", "exporters.alertmanager.insecure", "without a token"},
		{"webhook listen without TLS", base + "exporters: {alertmanager: {insecure: true, listen: '[::]:9179'}}\n", "exporters.alertmanager.listen", "set cert_file"},
		{"rules without speaker", base + "policy: {rules: [{when: {finding: optics.rx_power_low}, action: withdraw}]}\n", "policy.rules", "no speaker"},
	}
	for _, c := range cases {
		errs, warns := problems(t, c.doc)
		if len(errs) != 0 {
			t.Errorf("%s: a warning became an error: %v", c.name, errs)
		}
		if !strings.Contains(warns[c.key], c.want) {
			t.Errorf("%s: warning at %s = %q, want %q (all: %v)", c.name, c.key, warns[c.key], c.want, warns)
		}
	}
	if _, warns := problems(t, base); len(warns) != 0 {
		t.Errorf("loopback default warned: %v", warns)
	}
}
