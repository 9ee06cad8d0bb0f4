package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// grants reads what the session sends until it has been quiet for quiet,
// and returns the credit it granted stream id meanwhile.
func (p *rawPeer) grants(id uint32, quiet time.Duration) uint32 {
	p.t.Helper()
	var sum uint32
	for {
		f, err := p.readWithin(quiet)
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
		if isTimeout(err) {
			p.t.Fatal("no credit granted for stream", id)
		}
		if err != nil {
			p.t.Fatal("raw read:", err)
		}
		if f.h.typ() == typeWindowUpdate && f.h.streamID() == id {
			return binary.BigEndian.Uint32(f.payload)
		}
	}
}

// Bulk streams beside a stream of small round trips all finish, intact,
// while the connection is mixed the whole time (no credit is left kept back
// where nothing more would come to release it).
func TestMixedBulkStreamsComplete(t *testing.T) {
	client, server := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	const bulks, size = 4, 4 << 20
	errs := make(chan error, 2*bulks+2)
	go echoStreams(ctx, server, func(err error) { errs <- err })
	stopSmall := make(chan struct{})
	smallDone := make(chan int, 1)
	go func() {
		n := 0
		defer func() { smallDone <- n }()
		st, err := client.Open(ctx)
		if err != nil {
			errs <- err
			return
		}
		buf := make([]byte, 32)
		for {
			select {
			case <-stopSmall:
				return
			default:
			}
			if _, err := st.Write(buf); err != nil {
				errs <- err
				return
			}
			if _, err := io.ReadFull(st, buf); err != nil {
				errs <- err
				return
			}
			n++
		}
	}()
	var sawMixed atomic.Bool
	watching := make(chan struct{})
	defer close(watching)
	go func() {
		for !sawMixed.Load() {
			select {
			case <-watching:
				return
			case <-time.After(100 * time.Microsecond):
			}
			if server.mixed.Load() || client.mixed.Load() {
				sawMixed.Store(true)
			}
		}
	}()
	done := make(chan error, bulks)
	for i := range bulks {
		go func() {
			st, err := client.Open(ctx)
			if err != nil {
				done <- err
				return
			}
			p := make([]byte, size)
			for j := range p {
				p[j] = byte(i + j)
			}
			go func() {
				if _, err := st.Write(p); err != nil {
					errs <- err
				}
				st.CloseWrite()
			}()
			got, err := io.ReadAll(st)
			if err == nil && !bytes.Equal(got, p) {
				err = fmt.Errorf("bulk stream %d: %d bytes back, not what was sent", i, len(got))
			}
			done <- err
		}()
	}
	for range bulks {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(stopSmall)
	if n := <-smallDone; n == 0 {
		t.Fatal("no small round trip finished beside the bulk streams")
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if !sawMixed.Load() {
		t.Fatal("the connection never was mixed: the test did not exercise the kept credit")
	}
}
