package health

import (
	"strings"
	"testing"

	"github.com/anydiag/anydiag/internal/yamlconf"
)

func TestMachine(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		results    string // '+' success, '-' failure
		want       []Status
	}{
		{"rises after rise successes", 3, 2, "+++", []Status{StatusUnknown, StatusUnknown, StatusUp}},
		{"falls after fall failures", 1, 2, "+--", []Status{StatusUp, StatusUp, StatusDown}},
		{"a success resets the failure streak", 1, 2, "+-+-", []Status{StatusUp, StatusUp, StatusUp, StatusUp}},
		{"a failure resets the success streak", 2, 3, "---+-++", []Status{StatusUnknown, StatusUnknown, StatusDown, StatusDown, StatusDown, StatusDown, StatusUp}},
		{"zero rise and fall act as one", 0, 0, "+-", []Status{StatusUp, StatusDown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.rise, tt.fall)
			for i, r := range tt.results {
				prev := m.Status()
				changed := m.Observe(r == '+')
				if got := m.Status(); got != tt.want[i] {
					t.Fatalf("after result %d (%c): status %s, want %s", i, r, got, tt.want[i])
				}
				if changed != (prev != m.Status()) {
					t.Fatalf("after result %d: changed=%v but %s -> %s", i, changed, prev, m.Status())
				}
			}
		})
	}
}

type healthDoc struct {
	Health Config `yaml:"health"`
}

func (d *healthDoc) Validate(p *yamlconf.Problems) { d.Health.Check(p, "health") }

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "key: message fragment"
	}{
		{"valid example", `
health:
  checks:
    - {name: web, type: http, url: "http://127.0.0.1:8080/health", expect_status: 200, body_match: "ok", interval: 2s, timeout: 1s, rise: 3, fall: 2}
    - {name: dns, type: dns, server: "127.0.0.1:53", query: example.org., qtype: A, rcode: NOERROR, transport: udp}
    - {name: script, type: exec, command: [/usr/local/bin/check], timeout: 5s}
    - {name: ping, type: icmp, target: 127.0.0.1, privileged: true}
    - {name: port, type: tcp, address: "127.0.0.1:22"}
`, nil},
		{"everything wrong", `
health:
  checks:
    - {name: a, type: http, url: "ftp://x", body_match: "(", expect_status: 9, rise: -1}
    - {name: a, type: dns, query: "bad..name", qtype: NOPE, rcode: MAYBE, transport: quic}
    - {type: exec, address: "x:1"}
    - {name: t, type: tcp, address: "nohostport", interval: 1s, timeout: 2s}
    - {name: u, type: gopher}
`, []string{
			"health.checks[0].url: url scheme must be http or https",
			"health.checks[0].body_match: invalid regular expression",
			"health.checks[0].expect_status: status 9",
			"health.checks[0].rise: rise must be at least 1",
			"health.checks[1].name: check name \"a\" is used twice",
			"health.checks[1].server: a dns check needs server",
			"health.checks[1].query: \"bad..name\" is not a domain name",
			"health.checks[1].qtype: unknown query type",
			"health.checks[1].rcode: unknown rcode",
			"health.checks[1].transport: transport must be udp or tcp",
			"health.checks[2].name: a check needs a name",
			"health.checks[2].address: address applies to tcp checks only",
			"health.checks[2].command: an exec check needs a command",
			"health.checks[3].address: a tcp check needs address host:port",
			"health.checks[3].timeout: timeout 2s is longer than the interval 1s",
			"health.checks[4].type: unknown check type \"gopher\"",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d healthDoc
			err := yamlconf.Decode("test.yaml", []byte(tt.yaml), &d)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no problems reported")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing problem %q in:\n%s", w, msg)
				}
			}
			if n := strings.Count(msg, "\n  "); n != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%s", n, len(tt.want), msg)
			}
		})
	}
}
