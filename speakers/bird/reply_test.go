package bird

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The replies below are captures from BIRD 2.0.12 (Debian bird2).
func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reply
		wantErr error // errors.Is target; nil means success
		errCode int   // code of the *ReplyError from Reply.Err, 0 for none
	}{
		{"show protocols", "2002-Name       Proto      Table      State  Since         Info\n1002-anycast_v4 Static     master4    up     22:34:10.133  \n0000 \n",
			Reply{Code: 0, Lines: []Line{{2002, "Name       Proto      Table      State  Since         Info"}, {1002, "anycast_v4 Static     master4    up     22:34:10.133  "}, {0, ""}}}, nil, 0},
		{"continuation with space", "1007-Table master4:\n 192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)\n0000 \n",
			Reply{Code: 0, Lines: []Line{{1007, "Table master4:"}, {1007, "192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)"}, {0, ""}}}, nil, 0},
		{"disable", "0009-anycast_v4: disabled\n0000 \n", Reply{Code: 0, Lines: []Line{{9, "anycast_v4: disabled"}, {0, ""}}}, nil, 0},
		{"configure", "0002-Reading configuration from bird.conf\n0003 Reconfigured\n",
			Reply{Code: 3, Lines: []Line{{2, "Reading configuration from bird.conf"}, {3, "Reconfigured"}}}, nil, 0},
		{"not found", "8001 Network not found\n", Reply{Code: 8001, Lines: []Line{{8001, "Network not found"}}}, nil, 8001},
		{"parse error", "9001 syntax error, unexpected CF_SYM_UNDEFINED\n", Reply{Code: 9001, Lines: []Line{{9001, "syntax error, unexpected CF_SYM_UNDEFINED"}}}, nil, 9001},
		{"bare final code, CRLF, async line skipped", "+0001 spontaneous\r\n1002-x\r\n0000\r\n", Reply{Code: 0, Lines: []Line{{1002, "x"}, {0, ""}}}, nil, 0},
		{"empty input", "", Reply{}, io.EOF, 0},
		{"cut mid-reply", "1002-x\n", Reply{}, ErrMalformed, 0},
		{"continuation first", " orphan\n0000 \n", Reply{}, ErrMalformed, 0},
		{"no code", "hello\n", Reply{}, ErrMalformed, 0},
		{"bad separator", "0000:x\n", Reply{}, ErrMalformed, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadReply(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			var re *ReplyError
			if errors.As(got.Err(), &re) != (tc.errCode != 0) || (re != nil && re.Code != tc.errCode) {
				t.Fatalf("Err() = %v, want code %d", got.Err(), tc.errCode)
			}
		})
	}
}

func TestParseRoutes(t *testing.T) {
	rep, err := ReadReply(bufio.NewReader(strings.NewReader(
		"1007-Table master4:\n 192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)\n" +
			"1007-                     unicast [up 22:35:00.000 from 198.51.100.1] (100) [AS65001i]\n" +
			" 192.0.2.2/32         blackhole [other 22:34:10.133] * (200)\n1008-\tType: static univ\n0000 \n")))
	if err != nil {
		t.Fatal(err)
	}
	got := parseRoutes(rep)
	want := []string{"192.0.2.1/32 anycast_v4", "192.0.2.1/32 up", "192.0.2.2/32 other"}
	var s []string
	for _, r := range got {
		s = append(s, r.prefix.String()+" "+r.proto)
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %q, want %q", s, want)
	}
}

// FuzzReadReply feeds arbitrary bytes to the reply parser: it must return
// an error or a reply whose final code matches its last line, never panic.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"0001 BIRD 2.0.12 ready.\n",
		"2002-Name Proto\n1002-a Static master4 up 12:00\n0000 \n",
		"1007-Table master4:\n 192.0.2.1/32 blackhole [x 1] * (200)\n0000 \n",
		"8001 Network not found\n", "+0001 x\n0000\n", " x\n", "12",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(strings.NewReader(string(b)))
		rep, err := ReadReply(r)
		if err != nil {
			return
		}
		if len(rep.Lines) == 0 || rep.Lines[len(rep.Lines)-1].Code != rep.Code {
			t.Fatalf("reply %+v: final code does not match last line", rep)
		}
		_ = rep.Err()
		_ = parseRoutes(rep)
	})
}

func BenchmarkReadReply(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("1007-Table master4:\n")
	for range 1000 {
		sb.WriteString(" 192.0.2.1/32         blackhole [anycast_v4 22:34:10.133] * (200)\n")
	}
	sb.WriteString("0000 \n")
	in := sb.String()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(in))); err != nil {
			b.Fatal(err)
		}
	}
}
