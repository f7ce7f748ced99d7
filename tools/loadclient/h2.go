package main

// A minimal gRPC-over-HTTP/2 client for one bidirectional stream per connection, so that a response costs
// one goroutine, the reads it takes and one write for its ACK: no per-stream goroutine hand-offs, no
// per-message allocation beyond what the scan keeps. Frames come from golang.org/x/net/http2's Framer;
// headers are HPACK-encoded with its hpack package. Flow control: the client grants the server a 1 GiB
// window (connection and stream) and tops it up; its own sends (small requests) respect the server's
// windows, and wait in `blocked` when one is exhausted.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	grantWindow = 1 << 30
	streamID    = 1
)

type h2conn struct {
	conn net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	dec  *hpack.Decoder
	// sendConn, sendStream: what the server lets us send (its SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATEs).
	sendConn, sendStream int64
	blocked              [][]byte // gRPC messages waiting for window
	// consumed: DATA bytes received since the last WINDOW_UPDATE we sent.
	consumed int64
	msg      []byte // a gRPC message being reassembled across DATA frames
	scratch  []byte
	status   string
	message  string
}

// dialH2 connects, sends the preface and SETTINGS, and opens the stream on `path`.
func dialH2(addr, path string) (*h2conn, error) {
	var conn net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		conn, err = net.DialTimeout("tcp", addr, 30*time.Second)
		if err == nil || attempt >= 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	c := &h2conn{conn: conn, bw: bufio.NewWriterSize(conn, 4<<10), sendConn: 65535, sendStream: 65535}
	c.fr = http2.NewFramer(c.bw, bufio.NewReaderSize(conn, 64<<10))
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(1 << 24)
	c.dec = hpack.NewDecoder(4096, nil)
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return nil, err
	}
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: grantWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1}); err != nil {
		return nil, err
	}
	if err := c.fr.WriteWindowUpdate(0, grantWindow-65535); err != nil {
		return nil, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", addr},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return nil, err
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return nil, err
	}
	return c, c.bw.Flush()
}

// send queues one gRPC message (length-prefixed) as a DATA frame; flush writes whatever is queued.
// The Framer copies the bytes into the write buffer, so the scratch buffer is reused at once.
func (c *h2conn) send(payload []byte) error {
	m := append(c.scratch[:0], 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(m[1:5], uint32(len(payload)))
	m = append(m, payload...)
	c.scratch = m
	if len(c.blocked) > 0 || int64(len(m)) > c.sendConn || int64(len(m)) > c.sendStream {
		c.blocked = append(c.blocked, append([]byte(nil), m...))
		return nil
	}
	return c.writeData(m)
}

func (c *h2conn) writeData(m []byte) error {
	c.sendConn -= int64(len(m))
	c.sendStream -= int64(len(m))
	return c.fr.WriteData(streamID, false, m)
}

func (c *h2conn) unblock() error {
	for len(c.blocked) > 0 {
		m := c.blocked[0]
		if int64(len(m)) > c.sendConn || int64(len(m)) > c.sendStream {
			return nil
		}
		c.blocked = c.blocked[1:]
		if err := c.writeData(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *h2conn) flush() error { return c.bw.Flush() }

func (c *h2conn) close() { _ = c.conn.Close() }

var errStreamEnded = errors.New("stream ended")

// recv reads frames until one or more whole gRPC messages arrived and calls onMsg for each (the slice is
// valid only during the call), then flushes what the callbacks and the frame handling queued.
func (c *h2conn) recv(onMsg func([]byte) error) error {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		got := false
		switch f := f.(type) {
		case *http2.DataFrame:
			data := f.Data()
			c.consumed += int64(f.Length)
			if c.consumed > grantWindow/2 {
				if err := c.fr.WriteWindowUpdate(0, uint32(c.consumed)); err != nil {
					return err
				}
				if err := c.fr.WriteWindowUpdate(streamID, uint32(c.consumed)); err != nil {
					return err
				}
				c.consumed = 0
			}
			if len(c.msg) == 0 {
				// Whole messages straight from the frame, without a copy.
				for len(data) >= 5 {
					n := int(binary.BigEndian.Uint32(data[1:5]))
					if len(data) < 5+n {
						break
					}
					if data[0] != 0 {
						return errors.New("compressed gRPC message")
					}
					if err := onMsg(data[5 : 5+n]); err != nil {
						return err
					}
					got = true
					data = data[5+n:]
				}
			}
			c.msg = append(c.msg, data...)
			for len(c.msg) >= 5 {
				n := int(binary.BigEndian.Uint32(c.msg[1:5]))
				if len(c.msg) < 5+n {
					break
				}
				if err := onMsg(c.msg[5 : 5+n]); err != nil {
					return err
				}
				got = true
				c.msg = c.msg[:copy(c.msg, c.msg[5+n:])]
			}
			if f.StreamEnded() {
				return errStreamEnded
			}
		case *http2.HeadersFrame:
			fields, err := c.dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return err
			}
			for _, h := range fields {
				switch h.Name {
				case "grpc-status":
					c.status = h.Value
				case "grpc-message":
					c.message = h.Value
				}
			}
			if f.StreamEnded() {
				return fmt.Errorf("stream ended: grpc-status %s %s", c.status, c.message)
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					c.sendStream += int64(v) - 65535
				}
				if err := c.fr.WriteSettingsAck(); err != nil {
					return err
				}
				got = true
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := c.fr.WritePing(true, f.Data); err != nil {
					return err
				}
				got = true
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.sendConn += int64(f.Increment)
			} else {
				c.sendStream += int64(f.Increment)
			}
			if err := c.unblock(); err != nil {
				return err
			}
			got = true
		case *http2.RSTStreamFrame:
			return fmt.Errorf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return fmt.Errorf("goaway: %v %s", f.ErrCode, f.DebugData())
		}
		if got {
			if err := c.flush(); err != nil {
				return err
			}
			return nil
		}
	}
}
