// Package wire decodes BMP (RFC 7854, RFC 8671, RFC 9069) messages and the
// BGP messages they carry, without allocating on the route-monitoring path.
//
// It knows nothing of sessions or state: Reader frames a byte stream into
// messages, the Decode functions turn one message into typed values, and
// Update walks a BGP UPDATE into reusable slices. Every function returns an
// error on malformed input; none panics.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the only BMP version this package speaks (RFC 7854).
const Version = 3

// Sizes of the fixed parts of a BMP message.
const (
	CommonHeaderLen = 6
	PeerHeaderLen   = 42
)

// MaxMessageLen is the largest BMP message Reader accepts: a route-monitoring
// or route-mirroring message carrying one BGP extended message (RFC 8654,
// 65535 bytes) behind the common header, the per-peer header and a TLV header.
// Peer Up messages carry two OPENs, which RFC 8654 keeps at 4096 bytes each,
// so they fit too.
const MaxMessageLen = CommonHeaderLen + PeerHeaderLen + 4 + 65535

// MsgType is the BMP message type of the common header.
type MsgType uint8

// BMP message types (RFC 7854 section 4.1).
const (
	MsgRouteMonitoring  MsgType = 0
	MsgStatisticsReport MsgType = 1
	MsgPeerDown         MsgType = 2
	MsgPeerUp           MsgType = 3
	MsgInitiation       MsgType = 4
	MsgTermination      MsgType = 5
	MsgRouteMirroring   MsgType = 6
)

// NumMsgTypes is the number of message types RFC 7854 defines; types at or
// above it are unknown.
const NumMsgTypes = 7

var msgTypeNames = [NumMsgTypes]string{
	"route_monitoring", "statistics_report", "peer_down", "peer_up",
	"initiation", "termination", "route_mirroring",
}

// String names the type as the metrics label does.
func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return "unknown"
}

// FrameError says why a byte stream cannot be framed into BMP messages. The
// stream is unusable after it: the session must be closed.
type FrameError struct {
	// Reason is a short stable word, usable as a metrics label:
	// short_length, bad_version, too_large or truncated.
	Reason string
	// Detail says what was seen.
	Detail string
	// Err is the underlying read error, when there is one.
	Err error
}

func (e *FrameError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("bmp framing: %s: %s: %v", e.Reason, e.Detail, e.Err)
	}
	return fmt.Sprintf("bmp framing: %s: %s", e.Reason, e.Detail)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Reader frames a BMP byte stream into whole messages. It validates the common
// header before reading a body, so a bad length never makes it allocate or
// wait for bytes that will not come.
type Reader struct {
	br  *bufio.Reader
	buf []byte
	max int
	off int64
}

// NewReader reads messages from r. max bounds a message's length; zero means
// MaxMessageLen.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxMessageLen
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 4096), max: max}
}

// Buffered is the number of bytes read from the stream but not yet
// returned: non-zero means the next message has begun to arrive.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Wait blocks until the next byte of the stream is available (io.EOF at
// its end). The station waits here between messages under one deadline
// (silence) and reads the message itself under another.
func (r *Reader) Wait() error {
	_, err := r.br.Peek(1)
	return err
}

// Offset is the number of bytes consumed so far; it locates a framing error.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next whole message, common header included. The slice is
// reused by the following call. At a clean end of stream (between messages)
// it returns io.EOF; any other error is a *FrameError.
func (r *Reader) Next() ([]byte, error) {
	var hdr [CommonHeaderLen]byte
	n, err := io.ReadFull(r.br, hdr[:])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, &FrameError{Reason: "truncated", Detail: fmt.Sprintf("common header cut at %d of 6 bytes at offset %d", n, r.off), Err: err}
	}
	if hdr[0] != Version {
		return nil, &FrameError{Reason: "bad_version", Detail: fmt.Sprintf("version %d at offset %d, want %d", hdr[0], r.off, Version)}
	}
	length := int(binary.BigEndian.Uint32(hdr[1:5]))
	if length < CommonHeaderLen {
		return nil, &FrameError{Reason: "short_length", Detail: fmt.Sprintf("length %d at offset %d is below the 6-byte header", length, r.off)}
	}
	if length > r.max {
		return nil, &FrameError{Reason: "too_large", Detail: fmt.Sprintf("length %d at offset %d exceeds the %d-byte maximum", length, r.off, r.max)}
	}
	if cap(r.buf) < length {
		r.buf = make([]byte, length)
	}
	r.buf = r.buf[:length]
	copy(r.buf, hdr[:])
	if n, err := io.ReadFull(r.br, r.buf[CommonHeaderLen:]); err != nil {
		return nil, &FrameError{Reason: "truncated", Detail: fmt.Sprintf("%s message at offset %d cut at %d of %d bytes", MsgType(hdr[5]), r.off, CommonHeaderLen+n, length), Err: err}
	}
	r.off += int64(length)
	return r.buf, nil
}
