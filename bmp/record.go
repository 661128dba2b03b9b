package bmp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/anydiag/anydiag/bmp/wire"
)

// Record accepts router sessions on ln until ctx is done and appends every
// well-framed BMP message to w, whole: a recording is a plain BMP stream that
// Replay (or any station) reads back. Messages of several routers are
// interleaved message by message. It returns the number of messages written.
func Record(ctx context.Context, ln net.Listener, w io.Writer, log *slog.Logger) (int64, error) {
	if log == nil {
		log = slog.Default()
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var (
		mu   sync.Mutex
		n    int64
		werr error
		wg   sync.WaitGroup
	)
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil {
				return n, werr
			}
			return n, errors.Join(fmt.Errorf("bmp record: accept: %w", err), werr)
		}
		log.Info("bmp record: router connected", "router", c.RemoteAddr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			cstop := context.AfterFunc(ctx, func() { c.Close() })
			defer cstop()
			rd := wire.NewReader(c, 0)
			for {
				msg, err := rd.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) && ctx.Err() == nil {
						log.Warn("bmp record: session closed", "router", c.RemoteAddr().String(), "err", err)
					}
					return
				}
				mu.Lock()
				if werr == nil {
					if _, werr = w.Write(msg); werr == nil {
						n++
					}
				}
				failed := werr != nil
				mu.Unlock()
				if failed {
					return
				}
			}
		}()
	}
}

// Replay sends the BMP stream in r to conn message by message, checking
// framing on the way, and returns the number of messages sent. Writes are
// buffered: the stream goes out as fast as the receiver reads it.
func Replay(ctx context.Context, r io.Reader, conn io.Writer) (int64, error) {
	rd := wire.NewReader(r, 0)
	bw := bufio.NewWriterSize(conn, 256<<10)
	var n int64
	for ctx.Err() == nil {
		msg, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if err := bw.Flush(); err != nil {
				return n, fmt.Errorf("bmp replay: sending: %w", err)
			}
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("bmp replay: after %d messages: %w", n, err)
		}
		if _, err := bw.Write(msg); err != nil {
			return n, fmt.Errorf("bmp replay: sending message %d: %w", n+1, err)
		}
		n++
	}
	return n, ctx.Err()
}
