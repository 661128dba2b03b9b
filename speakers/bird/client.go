// Package bird drives BIRD 2 over its control socket. The anycast prefix is
// originated by a named protocol of the operator's configuration (typically
// a static protocol holding only that route, exported into BGP): Announce
// enables it, Withdraw disables it, and both are confirmed with
// `show protocols`, `show route ... protocol` and `show route ... export`.
package bird

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultSocket is where Debian's bird2 package puts the control socket.
const DefaultSocket = "/run/bird/bird.ctl"

// DefaultTimeout bounds one command when ctx has no earlier deadline.
const DefaultTimeout = 10 * time.Second

// Client sends commands to BIRD's control socket, one connection per
// command so that a stuck or restarted BIRD never leaves a half-read stream.
type Client struct {
	// Socket is the control socket path (DefaultSocket if empty).
	Socket string
}

// Command sends one command and returns BIRD's reply. A reply with an error
// code is returned together with its *ReplyError.
func (c *Client) Command(ctx context.Context, cmd string) (Reply, error) {
	if cmd == "" || strings.ContainsAny(cmd, "\r\n") {
		return Reply{}, fmt.Errorf("bird: command %q must be one non-empty line", cmd)
	}
	sock := c.Socket
	if sock == "" {
		sock = DefaultSocket
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return Reply{}, fmt.Errorf("bird: connect to control socket: %w", err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	if err := conn.SetDeadline(dl); err != nil {
		return Reply{}, fmt.Errorf("bird: %w", err)
	}
	// Closing the connection unblocks the reads if ctx is cancelled early.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	r := bufio.NewReader(conn)
	hello, err := ReadReply(r)
	if err != nil {
		return Reply{}, fmt.Errorf("bird: %s: welcome: %w", sock, err)
	}
	if hello.Code != CodeWelcome {
		return hello, fmt.Errorf("bird: %s: expected welcome (0001), got %04d", sock, hello.Code)
	}
	if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
		return Reply{}, fmt.Errorf("bird: send %q: %w", cmd, err)
	}
	rep, err := ReadReply(r)
	if err != nil {
		return rep, fmt.Errorf("bird: %q: %w", cmd, err)
	}
	if err := rep.Err(); err != nil {
		return rep, fmt.Errorf("%q: %w", cmd, err)
	}
	return rep, nil
}

// ProtocolState is one row of `show protocols`.
type ProtocolState struct {
	Name, Proto, Table, State string
	// Info is the last column, such as "Established" for a BGP session.
	Info string
}

// Up reports whether the protocol is running.
func (p ProtocolState) Up() bool { return p.State == "up" }

// Protocol reads the state of one protocol.
func (c *Client) Protocol(ctx context.Context, name string) (ProtocolState, error) {
	if !validName(name) {
		return ProtocolState{}, fmt.Errorf("bird: invalid protocol name %q", name)
	}
	rep, err := c.Command(ctx, "show protocols "+name)
	if err != nil {
		return ProtocolState{}, err
	}
	for _, t := range rep.Text(CodeProtocolList) {
		f := strings.Fields(t)
		if len(f) >= 4 && f[0] == name {
			st := ProtocolState{Name: f[0], Proto: f[1], Table: f[2], State: f[3]}
			// Since may be one or two fields depending on timeformat; the
			// information column follows it.
			if len(f) > 5 {
				st.Info = strings.Join(f[5:], " ")
				if len(f) > 6 && strings.Contains(f[5], ":") {
					st.Info = strings.Join(f[6:], " ")
				}
			}
			return st, nil
		}
	}
	return ProtocolState{}, fmt.Errorf("bird: protocol %s not listed by show protocols", name)
}

// Configure makes BIRD re-read its configuration file; it accepts BIRD 2's
// "Reconfigured" and BIRD 3's "Reconfiguration in progress".
func (c *Client) Configure(ctx context.Context) error {
	rep, err := c.Command(ctx, "configure")
	if err != nil {
		return err
	}
	switch rep.Code {
	case CodeReconfigured, CodeReconfInProgress:
		return nil
	}
	return fmt.Errorf("bird: configure: unexpected reply %04d %s", rep.Code, strings.Join(rep.Text(rep.Code), " "))
}

// validName accepts BIRD symbol names, so that a name can never smuggle
// another command word into the line.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
