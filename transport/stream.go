package transport

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Stream states kept in Stream.state, for deciding when a stream is finished.
const (
	stFinSent uint32 = 1 << iota
	stFinRecv
)

// Stream is one bidirectional byte stream of a Session. It implements
// net.Conn. Read and Write may be called concurrently with each other; writes
// from concurrent Write calls are not interleaved within one call.
type Stream struct {
	s        *Session
	id       uint32
	outbound bool
	state    atomic.Uint32
	sentSYN  atomic.Bool // the SYN has been handed to the writer's batch

	// Receive side, guarded by rmu.
	rmu        sync.Mutex
	rq         fifo[*chunk] // received, unread payload
	rlen       int          // bytes in rq
	rwin       uint32       // bytes the peer may still send
	rcredit    uint32       // bytes consumed but not yet granted back
	lastData   uint64       // the session's dataSeq at this stream's last DATA payload (reader only)
	finRecv    bool
	readClosed bool
	rerr       error // set when the stream is reset
	rwaiting   bool
	rwake      chan struct{}
	rdl        deadline
	notify     func(more bool)  // see SetReadNotify
	direct     func([]byte) int // see SetReceiveFunc

	// Send side. wmu serializes Write calls; the rest is guarded by s.w.mu.
	wmu       sync.Mutex
	sq        fifo[*chunk] // frames waiting for the writer
	swin      uint32       // send credit left
	inRing    bool
	synSent   bool
	finQueued bool // CloseWrite was called
	finSent   bool
	reset     bool
	werr      error // set when the stream is reset
	wwaiting  bool
	wwake     chan struct{}
	wdl       deadline
}

func newStream(s *Session, id uint32, outbound bool) *Stream {
	st := &Stream{
		s:        s,
		id:       id,
		outbound: outbound,
		rwin:     s.cfg.InitialWindow,
		swin:     s.peer.window,
		synSent:  !outbound, // the peer announced it
		rwake:    make(chan struct{}, 1),
		wwake:    make(chan struct{}, 1),
	}
	st.sentSYN.Store(!outbound)
	st.rdl.init()
	st.wdl.init()
	return st
}

// ID returns the stream id: odd for streams the client opened, even for the
// server's.
func (st *Stream) ID() uint32 { return st.id }

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.s }

// Read reads data sent by the peer. After the peer's CloseWrite it returns
// io.EOF once the data is consumed; after a reset, a *StreamResetError; once
// the session is over, the session's error (after any buffered data).
func (st *Stream) Read(p []byte) (int, error) {
	for {
		st.rmu.Lock()
		n, err, done := st.readLocked(p)
		if done {
			return n, err
		}
		st.rwaiting = true
		st.rmu.Unlock()
		if !st.sentSYN.Load() {
			st.announce()
		}
		st.s.needReader()
		select {
		case <-st.rwake:
		case <-st.rdl.wait():
		case <-st.s.done:
		}
	}
}

// TryRead is Read that never waits: while nothing is buffered and the stream
// is still open it returns 0 and a nil error.
func (st *Stream) TryRead(p []byte) (int, error) {
	st.rmu.Lock()
	n, err, done := st.readLocked(p)
	if !done {
		st.rmu.Unlock()
	}
	return n, err
}

// Buffered returns how many received bytes a Read returns without waiting,
// and the error Read returns once they are consumed: io.EOF after the peer's
// FIN, the reset or session error, or nil while more may come.
func (st *Stream) Buffered() (int, error) {
	st.rmu.Lock()
	defer st.rmu.Unlock()
	switch {
	case st.rerr != nil:
		return 0, st.rerr
	case st.readClosed:
		return 0, net.ErrClosed
	case st.finRecv:
		return st.rlen, io.EOF
	case st.s.isDone():
		return st.rlen, st.s.sessionErr()
	}
	return st.rlen, nil
}

// SetReadNotify has f called on the session's reader goroutine whenever data,
// the peer's FIN or its reset arrives for the stream, so that a consumer can
// take what arrived with TryRead instead of keeping a goroutine blocked in
// Read. more reports whether the reader already holds further input that it
// goes on with as soon as f returns (false: its next step is to wait for the
// network). f must not block: the session reads nothing else while it runs.
// Data that arrived before SetReadNotify brings no call; the caller looks for
// it itself after registering.
func (st *Stream) SetReadNotify(f func(more bool)) {
	st.rmu.Lock()
	st.notify = f
	st.rmu.Unlock()
}

// SetReceiveFunc has f offered the payload of each DATA frame for the stream
// before it is queued, on the session's reader goroutine, whenever nothing is
// queued for the stream: f consumes what it can of p from its start where it
// lies, with no copy, and returns how many bytes it took. The rest is queued
// as usual and the read notify function called. p is valid only during the
// call; f must not keep it, and must not block. The bytes f takes count as
// read at once for flow control. A payload with the peer's FIN, or one read
// straight into a chunk of its own (large frames), is not offered.
func (st *Stream) SetReceiveFunc(f func(p []byte) int) {
	st.rmu.Lock()
	st.direct = f
	st.rmu.Unlock()
}

// offer offers p, a DATA payload within the stream's window, to its receive
// function (see SetReceiveFunc) and returns how many bytes were taken.
func (st *Stream) offer(p []byte) int {
	st.rmu.Lock()
	f := st.direct
	if f == nil || st.rlen > 0 || st.finRecv || st.rerr != nil || st.readClosed || uint32(len(p)) > st.rwin {
		st.rmu.Unlock()
		return 0
	}
	st.rmu.Unlock()
	k := min(max(f(p), 0), len(p))
	if k == 0 {
		return 0
	}
	st.rmu.Lock()
	st.rwin -= uint32(k)
	grant := st.creditLocked(uint32(k))
	st.rmu.Unlock()
	if grant > 0 {
		st.s.w.queueWindowUpdate(st.id, grant)
	}
	return k
}

// readNotify returns the stream's notify function.
func (st *Stream) readNotify() func(bool) {
	st.rmu.Lock()
	defer st.rmu.Unlock()
	return st.notify
}

// readLocked is one attempt of Read, with st.rmu held. When done is true it
// has released st.rmu and n, err are Read's results; otherwise Read must wait
// (st.rmu still held).
func (st *Stream) readLocked(p []byte) (n int, err error, done bool) {
	switch {
	case st.rerr != nil:
		err := st.rerr
		st.rmu.Unlock()
		return 0, err, true
	case st.readClosed:
		st.rmu.Unlock()
		return 0, net.ErrClosed, true
	case st.rdl.expired():
		st.rmu.Unlock()
		return 0, os.ErrDeadlineExceeded, true
	case st.rlen > 0:
		if len(p) == 0 {
			st.rmu.Unlock()
			return 0, nil, true
		}
		n := st.copyOut(p)
		grant := st.creditLocked(uint32(n))
		st.rmu.Unlock()
		if grant > 0 {
			st.s.w.queueWindowUpdate(st.id, grant)
		}
		return n, nil, true
	case st.finRecv:
		st.rmu.Unlock()
		return 0, io.EOF, true
	case st.s.isDone():
		st.rmu.Unlock()
		return 0, st.s.sessionErr(), true
	}
	return 0, nil, false
}

// copyOut moves buffered bytes into p. st.rmu must be held.
func (st *Stream) copyOut(p []byte) int {
	n := 0
	for n < len(p) && st.rq.len() > 0 {
		c := st.rq.peek()
		m := copy(p[n:], c.buf[c.r:c.w])
		c.r += m
		n += m
		if c.r == c.w {
			st.rq.pop()
			st.s.pools.put(c)
		}
	}
	st.rlen -= n
	return n
}

// announce makes sure the peer learns of a stream opened here that a Read is
// about to wait on.
func (st *Stream) announce() {
	if !st.outbound {
		return
	}
	w := &st.s.w
	w.mu.Lock()
	if !st.synSent && !st.reset {
		w.schedule(st)
	}
	w.mu.Unlock()
}

// CloseWrite half-closes the stream: queued data is sent, followed by FIN,
// and the peer's Read returns io.EOF after the data. Reading continues to
// work.
func (st *Stream) CloseWrite() error {
	w := &st.s.w
	w.mu.Lock()
	if st.finQueued || st.reset {
		w.mu.Unlock()
		return nil
	}
	st.finQueued = true
	if st.s.isDone() {
		w.mu.Unlock()
		return nil
	}
	w.schedule(st)
	if st.wwaiting {
		st.wwaiting = false
		signal(st.wwake)
	}
	w.mu.Unlock()
	return nil
}

// Close closes the stream: CloseWrite, and stop reading. Buffered and later
// incoming data is discarded and its window credit returned to the peer, so
// a peer still writing is never stalled. Pending and later Reads and Writes
// fail with net.ErrClosed.
func (st *Stream) Close() error {
	st.CloseWrite()
	st.rmu.Lock()
	if st.readClosed || st.rerr != nil {
		st.rmu.Unlock()
		return nil
	}
	st.readClosed = true
	grant := st.rcredit + uint32(st.rlen)
	st.rcredit = 0
	st.rwin += grant
	st.discardLocked()
	if st.rwaiting {
		st.rwaiting = false
		signal(st.rwake)
	}
	fin := st.finRecv
	st.rmu.Unlock()
	if grant > 0 && !fin && !st.s.isDone() {
		st.s.w.queueWindowUpdate(st.id, grant)
	}
	return nil
}

// discardLocked drops buffered data. st.rmu must be held.
func (st *Stream) discardLocked() {
	for st.rq.len() > 0 {
		st.s.pools.put(st.rq.pop())
	}
	st.rlen = 0
}

// Reset aborts the stream in both directions: queued data is dropped, the
// peer's Read and Write fail with ErrStreamReset, and so do this side's.
func (st *Stream) Reset() error {
	if st.abort(&StreamResetError{Code: ResetCancel}) {
		st.s.w.queueReset(st.id, ResetCancel)
	}
	st.s.removeStream(st)
	return nil
}

// abort marks the stream reset with err, drops its buffers and wakes its
// waiters. It reports whether the peer knows of the stream and so must be
// told.
func (st *Stream) abort(err error) (announced bool) {
	w := &st.s.w
	w.mu.Lock()
	if st.reset {
		w.mu.Unlock()
		return false
	}
	st.reset = true
	st.werr = err
	announced = st.synSent && !(st.finSent && st.state.Load()&stFinRecv != 0)
	for st.sq.len() > 0 {
		st.s.pools.put(st.sq.pop())
	}
	if st.wwaiting {
		st.wwaiting = false
		signal(st.wwake)
	}
	w.mu.Unlock()

	st.rmu.Lock()
	if st.rerr == nil {
		st.rerr = err
	}
	st.discardLocked()
	if st.rwaiting {
		st.rwaiting = false
		signal(st.rwake)
	}
	st.rmu.Unlock()
	return announced
}

// markFinSent records that our FIN went out; the stream is finished if the
// peer's FIN already came.
func (st *Stream) markFinSent() {
	if st.state.Or(stFinSent)&stFinRecv != 0 {
		st.s.removeStream(st)
	}
}

func (st *Stream) markFinRecv() {
	if st.state.Or(stFinRecv)&stFinSent != 0 {
		st.s.removeStream(st)
	}
}

// LocalAddr returns the session's local address.
func (st *Stream) LocalAddr() net.Addr { return st.s.conn.LocalAddr() }

// RemoteAddr returns the session's remote address.
func (st *Stream) RemoteAddr() net.Addr { return st.s.conn.RemoteAddr() }

// SetDeadline sets both the read and write deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.rdl.setTo(t)
	st.wdl.setTo(t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future Reads; an expired
// deadline makes them fail with os.ErrDeadlineExceeded. Zero clears it.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.rdl.setTo(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes; an
// expired deadline makes them fail with os.ErrDeadlineExceeded. Zero clears
// it.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.wdl.setTo(t)
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
