package yamlconf

import (
	"errors"
	"strings"
	"testing"
)

type sample struct {
	Name     string       `yaml:"name"`
	Interval Duration     `yaml:"interval"`
	VIPs     []HostPrefix `yaml:"vips"`
	Net      Prefix       `yaml:"net"`
	Port     int          `yaml:"port"`
	Nested   struct {
		Listen AddrPort `yaml:"listen"`
	} `yaml:"nested"`
}

func (s *sample) Validate(p *Problems) {
	if s.Name == "" {
		p.Add("name", "required")
	}
	if s.Port > 65535 {
		p.Add("port", "%d is not a TCP port", s.Port)
	}
}

func TestDecodeReportsEveryProblemWithLine(t *testing.T) {
	in := `name: ""
interval: -5s
vips:
  - 192.0.2.1/32
  - 192.0.2.0/24
net: 10.0.0.1/8
port: 70000
colour: blue
nested:
  listen: nonsense
`
	var s sample
	err := Decode("x.yaml", []byte(in), &s)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []struct {
		line int
		key  string
		frag string
	}{
		{1, "name", "required"},
		{2, "interval", "negative duration"},
		{5, "vips[1]", "host route (/32) is required"},
		{6, "net", "host bits set"},
		{7, "port", "not a TCP port"},
		{8, "colour", `unknown key "colour"`},
		{10, "nested.listen", "invalid address:port"},
	}
	if len(e.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(e.Problems), len(want), err)
	}
	for i, w := range want {
		p := e.Problems[i]
		if p.Line != w.line || p.Key != w.key || !strings.Contains(p.Msg, w.frag) {
			t.Errorf("problem %d = %+v, want line %d key %s containing %q", i, p, w.line, w.key, w.frag)
		}
	}
	if !strings.Contains(err.Error(), "x.yaml:5: vips[1]:") {
		t.Errorf("error text lacks file:line: key: %v", err)
	}
}

func TestDecodeWrongType(t *testing.T) {
	var s sample
	err := Decode("y.yaml", []byte("name: a\nport: many\n"), &s)
	if err == nil || !strings.Contains(err.Error(), "y.yaml:2: port: wrong type") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeSyntaxError(t *testing.T) {
	var s sample
	err := Decode("z.yaml", []byte("name: a\n  bad: [\n"), &s)
	if err == nil || !strings.Contains(err.Error(), "z.yaml:") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeValid(t *testing.T) {
	var s sample
	if err := Decode("ok.yaml", []byte("name: a\ninterval: 2s\nvips: [2001:db8::1]\nnested: {listen: '[::1]:80'}\n"), &s); err != nil {
		t.Fatal(err)
	}
	if s.VIPs[0].Bits() != 128 || s.Interval.D().Seconds() != 2 || s.Nested.Listen.Port() != 80 {
		t.Fatalf("decoded %+v", s)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\nvips: [192.0.2.1/32]\n"))
	f.Add([]byte("nested: {listen: x}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		_ = Decode("f.yaml", b, &s)
	})
}

func TestProblemsErr(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Fatal("no problems must be a nil error")
	}
	p.Add("neighbors[0].asn", "required")
	p.Add("", "set one of a or b")
	if err := p.Err(); err == nil || err.Error() != "neighbors[0].asn: required; set one of a or b" {
		t.Fatalf("Err() = %v", err)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ path, key, want string }{
		{"", "asn", "asn"},
		{"speaker.gobgp", "asn", "speaker.gobgp.asn"},
		{"checks[2]", "rise", "checks[2].rise"},
		{"speaker.bird", "prefixes[0]", "speaker.bird.prefixes[0]"},
	}
	for _, tt := range tests {
		if got := Join(tt.path, tt.key); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.path, tt.key, got, tt.want)
		}
	}
}
