package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// grants reads what the session sends until it has been quiet for quiet,
// and returns the credit it granted stream id meanwhile.
func (p *rawPeer) grants(id uint32, quiet time.Duration) uint32 {
	p.t.Helper()
	var sum uint32
	for {
		p.conn.SetReadDeadline(time.Now().Add(quiet))
		var f rawFrame
		_, err := io.ReadFull(p.br, f.h[:])
		if err == nil {
			f.payload = make([]byte, f.h.length())
			_, err = io.ReadFull(p.br, f.payload)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return sum
		}
		if err != nil {
			p.t.Fatal("raw read:", err)
		}
		if f.h.typ() == typeWindowUpdate && f.h.streamID() == id {
			sum += binary.BigEndian.Uint32(f.payload)
		}
	}
}

// A stream interleaved with another on the connection is granted credit only
// to mixWindow bytes in flight; alone again, it gets its whole window back.
func TestMixedStreamsShareTheWindow(t *testing.T) {
	s, p := newRawClient(t, nil)
	const w = DefaultInitialWindow
	const frame = 16 << 10
	bulk := make([]byte, frame)

	// Interleaved: a frame of stream 3 between each two of stream 1, for
	// all but the last frame of stream 1's window.
	sent := 0
	for i := 0; sent+frame < w; i++ {
		flags := uint8(0)
		if i == 0 {
			flags = flagSYN
		}
		p.write(typeData, flags, 1, bulk)
		sent += frame
		p.write(typeData, flags, 3, []byte{1})
	}
	st, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	granted := p.grants(1, 200*time.Millisecond)
	// What the peer may have in flight now that all it sent is consumed.
	allowance := w + int(granted) - sent
	if allowance > mixWindow || allowance <= 0 {
		t.Fatalf("interleaved: %d bytes consumed, %d granted back: the peer may send %d more, want 1 to %d",
			sent, granted, allowance, mixWindow)
	}

	// Alone: stream 1's frames only, as its credit allows, while it is
	// read, for more than mixFrames frames.
	read := make(chan error, 1)
	const more = (mixFrames + 16) * (8 << 10)
	go func() {
		_, err := io.ReadFull(st, make([]byte, more))
		read <- err
	}()
	for left := more; left > 0; {
		if allowance == 0 {
			allowance += int(p.waitGrant(1))
			continue
		}
		n := min(8<<10, allowance, left)
		p.write(typeData, 0, 1, bulk[:n])
		allowance -= n
		left -= n
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	allowance += int(p.grants(1, 200*time.Millisecond))
	if allowance < w-w/4 {
		t.Fatalf("alone again: the peer may send %d bytes, want at least %d", allowance, w-w/4)
	}
}

// waitGrant reads until a WINDOW_UPDATE for stream id and returns its
// increment.
func (p *rawPeer) waitGrant(id uint32) uint32 {
	p.t.Helper()
	for {
		f, err := p.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatal("no credit granted for stream", id)
			}
			p.t.Fatal("raw read:", err)
		}
		if f.h.typ() == typeWindowUpdate && f.h.streamID() == id {
			return binary.BigEndian.Uint32(f.payload)
		}
	}
}
