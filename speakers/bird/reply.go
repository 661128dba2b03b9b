package bird

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Line is one line of a reply: its four-digit code and its text. A line
// that continues the previous one with a leading space carries the code of
// the line it continues.
type Line struct {
	Code int
	Text string
}

// Reply is BIRD's complete answer to one command.
type Reply struct {
	// Code is the code of the final line.
	Code  int
	Lines []Line
}

// Err returns a *ReplyError when the reply carries a run-time (8xxx) or
// parse-time (9xxx) error code, nil otherwise.
func (r Reply) Err() error {
	for _, l := range r.Lines {
		if l.Code >= 8000 {
			return &ReplyError{Code: l.Code, Text: l.Text}
		}
	}
	return nil
}

// Text joins the text of the lines with the given code.
func (r Reply) Text(code int) []string {
	var out []string
	for _, l := range r.Lines {
		if l.Code == code {
			out = append(out, l.Text)
		}
	}
	return out
}

// ReplyError is an error reported by BIRD itself.
type ReplyError struct {
	Code int
	Text string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("bird: %04d %s", e.Code, e.Text) }

// Reply codes this package acts on (BIRD's doc/reply_codes).
const (
	CodeOK               = 0
	CodeWelcome          = 1
	CodeReadingConfig    = 2
	CodeReconfigured     = 3
	CodeReconfInProgress = 4
	CodeAlreadyDisabled  = 8
	CodeDisabled         = 9
	CodeAlreadyEnabled   = 10
	CodeEnabled          = 11
	CodeProtocolList     = 1002
	CodeRouteList        = 1007
	CodeNotFound         = 8001
	CodeConfigError      = 8002
	CodeNoProtocols      = 8003
	CodeParseError       = 9001
)

// maxReplyLines bounds a reply so that a broken peer cannot make the reader
// grow without end; a full table dump is not something the speaker asks for.
const maxReplyLines = 1 << 20

// ErrMalformed is wrapped by errors about replies that break the protocol.
var ErrMalformed = errors.New("bird: malformed reply")

// ReadReply reads one reply: lines "DDDD-text" (more follows), " text"
// (continues the previous code, more follows) and a final "DDDD text".
// Asynchronous lines starting with '+' are skipped.
func ReadReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	last := -1
	for n := 0; ; n++ {
		if n >= maxReplyLines {
			return rep, fmt.Errorf("%w: more than %d lines", ErrMalformed, maxReplyLines)
		}
		raw, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				if raw == "" && n == 0 {
					return rep, io.EOF
				}
				return rep, fmt.Errorf("%w: connection closed mid-reply", ErrMalformed)
			}
			return rep, fmt.Errorf("bird: read reply: %w", err)
		}
		line := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
		switch {
		case strings.HasPrefix(line, "+"):
			continue
		case strings.HasPrefix(line, " "):
			if last < 0 {
				return rep, fmt.Errorf("%w: continuation line before any code: %q", ErrMalformed, line)
			}
			rep.Lines = append(rep.Lines, Line{Code: last, Text: line[1:]})
			continue
		}
		code, ok := parseCode(line)
		if !ok {
			return rep, fmt.Errorf("%w: line without a reply code: %q", ErrMalformed, line)
		}
		last = code
		switch {
		case len(line) == 4:
			// A bare code is a final line with no text.
			rep.Lines = append(rep.Lines, Line{Code: code})
			rep.Code = code
			return rep, nil
		case line[4] == '-':
			rep.Lines = append(rep.Lines, Line{Code: code, Text: line[5:]})
		case line[4] == ' ':
			rep.Lines = append(rep.Lines, Line{Code: code, Text: line[5:]})
			rep.Code = code
			return rep, nil
		default:
			return rep, fmt.Errorf("%w: code not followed by '-' or ' ': %q", ErrMalformed, line)
		}
	}
}

func parseCode(line string) (int, bool) {
	if len(line) < 4 {
		return 0, false
	}
	code := 0
	for i := range 4 {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, true
}
