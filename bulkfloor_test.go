package firefly_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// The shape of bulkFloor's multiplexing: firefly's transport defaults while
// a connection is mixed (a 16 KiB DATA frame, a window of 32 KiB in flight,
// credit granted back every 8 KiB read).
const (
	floorFrame  = 16 << 10
	floorWindow = 32 << 10
	floorGrant  = 8 << 10
)

// bulkFloor is CallUnderBulk's floor on one connection: small round trips
// and 16 MiB echoes share one loopback TCP connection, multiplexed by hand
// with nothing of firefly's. A frame is a kind byte and a 3-byte length,
// then the payload: a small request or answer ('S'), a piece of an echo of
// at most floorFrame bytes ('B'), or a grant of credit ('W'). An echo's
// sender has at most floorWindow bytes in flight, and its receiver grants
// credit back every floorGrant bytes it has copied out, so that no more
// than that window of bulk bytes can queue ahead of a small frame, as in
// firefly's transport. Every frame is one write under a lock, a small one
// waiting at most for the bulk frame being written; the far end answers a
// small request on its reader. It shows what the plainest multiplexing
// costs a small round trip that shares its wire with an echo cut into
// frames, beside TCPPingPongUnderBulk, where the echo has a connection of
// its own. It is a reference, not a lower bound: each of its frames is a
// syscall of its own, and its reader writes its grants itself, so a small
// frame waits behind more work than in firefly's transport, whose writer
// gathers frames into batches.
type bulkFloor struct {
	client, server *floorEnd
	small          chan struct{} // a small answer arrived
	echoed         chan struct{} // a whole echo came back
	req            []byte
	done           sync.WaitGroup
}

// floorEnd is one end of a bulkFloor connection.
type floorEnd struct {
	c   net.Conn
	wmu sync.Mutex // serializes frames
	vec net.Buffers

	mu     sync.Mutex
	cond   sync.Cond
	credit int // bytes of bulk this end may still send
	closed bool
}

func newFloorEnd(c net.Conn) *floorEnd {
	e := &floorEnd{c: c, credit: floorWindow}
	e.cond.L = &e.mu
	return e
}

// frame writes one frame in one write.
func (e *floorEnd) frame(kind byte, p []byte) error {
	hdr := [4]byte{kind, byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.vec = append(e.vec[:0], hdr[:], p)
	_, err := e.vec.WriteTo(e.c)
	return err
}

// send writes p as bulk frames, each once the peer's credit allows it.
func (e *floorEnd) send(p []byte) error {
	for len(p) > 0 {
		n := min(floorFrame, len(p))
		e.mu.Lock()
		for e.credit < n && !e.closed {
			e.cond.Wait()
		}
		closed := e.closed
		e.credit -= n
		e.mu.Unlock()
		if closed {
			return net.ErrClosed
		}
		if err := e.frame('B', p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// grant adds credit the peer gave back.
func (e *floorEnd) grant(n int) {
	e.mu.Lock()
	e.credit += n
	e.cond.Broadcast()
	e.mu.Unlock()
}

// read reads frames until the connection fails: small payloads go to
// small, bulk is copied into bulk (whole echoes, handed to echoed), and
// grants to the end's credit. It wakes a sender waiting for credit when it
// ends.
func (e *floorEnd) read(small func([]byte) error, bulk []byte, echoed func([]byte)) {
	defer func() {
		e.mu.Lock()
		e.closed = true
		e.cond.Broadcast()
		e.mu.Unlock()
	}()
	br := bufio.NewReaderSize(e.c, 64<<10)
	var hdr [4]byte
	buf := make([]byte, 64)
	got, read := 0, 0
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		var err error
		switch hdr[0] {
		case 'S':
			if n > len(buf) {
				return
			}
			if _, err = io.ReadFull(br, buf[:n]); err == nil {
				err = small(buf[:n])
			}
		case 'B':
			if n > len(bulk)-got {
				return
			}
			if _, err = io.ReadFull(br, bulk[got:got+n]); err != nil {
				return
			}
			got += n
			if read += n; read >= floorGrant {
				err = e.frame('W', binary.BigEndian.AppendUint32(nil, uint32(read)))
				read = 0
			}
			if got == len(bulk) {
				echoed(bulk)
				got = 0
			}
		case 'W':
			if n != 4 {
				return
			}
			if _, err = io.ReadFull(br, buf[:4]); err == nil {
				e.grant(int(binary.BigEndian.Uint32(buf)))
			}
		default:
			err = errors.New("unknown frame")
		}
		if err != nil {
			return
		}
	}
}

// newBulkFloor starts a bulkFloor whose small requests and answers are req
// and resp bytes long and whose echoes are of size bytes.
func newBulkFloor(tb testing.TB, req, resp, size int) *bulkFloor {
	tb.Helper()
	ln := listen(tb)
	f := &bulkFloor{small: make(chan struct{}, 1), echoed: make(chan struct{}, 1), req: make([]byte, req)}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	f.client = newFloorEnd(dial(tb, ln))
	sc := <-accepted
	if sc == nil {
		tb.Fatal("accept failed")
	}
	f.server = newFloorEnd(sc)
	answer := make([]byte, resp)
	echoes := make(chan []byte, 1)
	f.done.Add(3)
	go func() {
		defer f.done.Done()
		f.server.read(func([]byte) error { return f.server.frame('S', answer) }, make([]byte, size), func(p []byte) { echoes <- p })
		close(echoes)
	}()
	go func() { // the far end's echo writer
		defer f.done.Done()
		for p := range echoes {
			if f.server.send(p) != nil {
				return
			}
		}
	}()
	go func() {
		defer f.done.Done()
		f.client.read(func([]byte) error { f.small <- struct{}{}; return nil }, make([]byte, size), func([]byte) { f.echoed <- struct{}{} })
		close(f.small)
		close(f.echoed)
	}()
	tb.Cleanup(func() {
		f.client.c.Close()
		f.server.c.Close()
		f.done.Wait()
	})
	return f
}

// trip makes one small round trip.
func (f *bulkFloor) trip() error {
	if err := f.client.frame('S', f.req); err != nil {
		return err
	}
	if _, ok := <-f.small; !ok {
		return net.ErrClosed
	}
	return nil
}

// echo sends p and waits for the whole echo.
func (f *bulkFloor) echo(p []byte) error {
	if err := f.client.send(p); err != nil {
		return err
	}
	if _, ok := <-f.echoed; !ok {
		return net.ErrClosed
	}
	return nil
}

// BenchmarkMuxFloorUnderBulk is bulkFloor under underBulk, as
// CallUnderBulk: TCPPingPong's round trips, of CallSeq's sizes on the wire,
// timed while 16 MiB echoes share their connection.
func BenchmarkMuxFloorUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	req, resp := callSeqSizes(b)
	f := newBulkFloor(b, req, resp, 16*mib)
	underBulk(b, f.trip, f.echo)
}
