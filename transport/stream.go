package transport

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxWriteBurst is how much of one large Write is copied and queued at a time,
// so the writer goroutine starts sending while the rest is being copied.
const maxWriteBurst = 256 << 10

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

// creditLocked counts n received bytes as consumed and returns the credit
// to grant the peer now (0 until enough has built up). st.rmu must be held.
func (st *Stream) creditLocked(n uint32) (grant uint32) {
	st.rcredit += n
	if st.rcredit >= st.s.winThreshold {
		grant = st.rcredit
		st.rcredit = 0
		st.rwin += grant
	}
	return grant
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

// Write queues p for sending and returns once all of it is queued. It blocks
// only while the stream's send window (the peer's unread-data allowance) is
// exhausted.
func (st *Stream) Write(p []byte) (int, error) {
	return st.WriteContext(context.Background(), p)
}

// WriteContext is Write that also gives up, with ctx's error, when ctx ends
// while the write waits for the peer's flow control. What was written before
// stays written: the stream then holds part of p.
func (st *Stream) WriteContext(ctx context.Context, p []byte) (int, error) {
	n, queued, err := st.write(ctx, p)
	if queued {
		st.s.w.kick()
	}
	return n, err
}

// WriteInline is WriteContext that, when nothing else is being written to the
// connection, writes p's small frames on the calling goroutine before it
// returns (a syscall in the caller), instead of handing them to the session's
// writer goroutine: a lone message leaves with no goroutine woken. When
// several goroutines write at once, WriteContext costs less: the writer
// goroutine gathers their frames into one syscall.
func (st *Stream) WriteInline(ctx context.Context, p []byte) (int, error) {
	if n, ok, err := st.writeFrame(p, false); ok {
		return n, err
	}
	n, queued, err := st.write(ctx, p)
	if queued {
		st.s.w.flush()
	}
	return n, err
}

// Headroom is the room WriteInlineHeaded needs ahead of what it writes: the
// length of a frame's header.
const Headroom = headerLen

// WriteInlineHeaded is WriteInline of b[Headroom:]. The first Headroom bytes
// of b are room the caller leaves for a frame header: a lone small frame
// is written from b itself, its header put there, with no copy. The room's
// bytes are overwritten.
func (st *Stream) WriteInlineHeaded(ctx context.Context, b []byte) (int, error) {
	if n, ok, err := st.writeFrame(b, true); ok {
		return n, err
	}
	n, queued, err := st.write(ctx, b[Headroom:])
	if queued {
		st.s.w.flush()
	}
	return n, err
}

// writeFrame writes p as one DATA frame from the caller, with no queue,
// when it can: p fits a small frame and the send window, the stream is open
// and sends nothing else, and nobody is writing to the connection or has
// anything queued. ok reports whether it did (or failed trying); if not,
// nothing was done. With headed, p's first Headroom bytes are room for the
// frame's header, and the frame is written from p; otherwise it is copied
// into a chunk behind its header.
func (st *Stream) writeFrame(p []byte, headed bool) (n int, ok bool, err error) {
	b := p
	if headed {
		p = p[Headroom:]
	}
	s := st.s
	w := &s.w
	if len(p) == 0 || len(p) > s.smallSendMax || !w.vectored {
		return 0, false, nil
	}
	// wmu keeps another Write's frames from coming between this one's
	// check and claim; once w.running is claimed, what others queue leaves
	// after this frame, so wmu is not held across the write.
	st.wmu.Lock()
	if st.wdl.expired() {
		st.wmu.Unlock()
		return 0, false, nil
	}
	w.mu.Lock()
	if w.running || w.pending() || st.sq.len() > 0 || !st.synSent || st.finQueued || st.reset ||
		int(st.swin) < len(p) || st.writeErrLocked() != nil || s.isDone() {
		w.mu.Unlock()
		st.wmu.Unlock()
		return 0, false, nil
	}
	st.swin -= uint32(len(p))
	w.running = true
	w.mu.Unlock()
	st.wmu.Unlock()

	// Holding w.running, this caller is the connection's only writer.
	var c *chunk
	if !headed {
		c = s.pools.small.get()
		b = c.buf[:headerLen+len(p)]
		copy(b[headerLen:], p)
	}
	putHeader(b, typeData, 0, st.id, uint32(len(p)))
	w.pushDeadline()
	s.bytesOut.Add(uint64(len(b)))
	_, err = s.conn.Write(b)
	if c != nil {
		s.pools.put(c)
	}
	if err != nil {
		return 0, true, w.failed(err)
	}
	w.mu.Lock()
	if w.pending() || s.isDone() {
		// What was queued meanwhile, or the session's end (its kick found
		// the writer running): the writer goroutine takes over, w.running
		// staying set.
		go w.loop()
	} else {
		w.running = false
	}
	w.mu.Unlock()
	return len(p), true, nil
}

// write queues p. Small frames are queued without starting the writer
// goroutine (queued reports them): the caller flushes them once it let go of
// st.wmu. Larger ones are handed to the goroutine at once, so that the
// copying of a large write overlaps its sending.
func (st *Stream) write(ctx context.Context, p []byte) (n int, queued bool, err error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	s := st.s
	w := &s.w
	for n < len(p) || (len(p) == 0 && n == 0) {
		if st.wdl.expired() {
			return n, queued, os.ErrDeadlineExceeded
		}
		w.mu.Lock()
		if err := st.writeErrLocked(); err != nil {
			w.mu.Unlock()
			return n, queued, err
		}
		if len(p) == 0 {
			w.mu.Unlock()
			return 0, false, nil
		}
		if st.swin == 0 {
			if queued {
				// What is queued must leave before this waits for credit.
				w.kickLocked()
				queued = false
			}
			if err := ctx.Err(); err != nil {
				w.mu.Unlock()
				return n, false, err
			}
			st.wwaiting = true
			w.mu.Unlock()
			st.awaitCredit(ctx)
			continue
		}
		m := min(len(p)-n, int(st.swin), maxWriteBurst)
		st.swin -= uint32(m)
		if tail := st.tailLocked(); tail != nil && s.sendFrameEnd(tail)-tail.w >= m {
			// Coalesce into the frame that is still waiting to be sent.
			tail.w += copy(tail.buf[tail.w:], p[n:n+m])
			w.enqueue(st)
			queued = true
			w.mu.Unlock()
			n += m
			continue
		}
		if m <= s.smallSendMax {
			c := s.pools.small.get()
			c.w = headerLen + copy(c.buf[headerLen:], p[n:n+m])
			st.sq.push(c)
			w.enqueue(st)
			queued = true
			w.mu.Unlock()
			n += m
			continue
		}
		w.mu.Unlock()
		if err := st.queueLarge(p[n : n+m]); err != nil {
			return n, queued, err
		}
		n += m
	}
	return n, queued, nil
}

// awaitCredit waits until the peer grants the stream credit, or its write
// deadline passes, or the session or ctx ends. It is a function of its own,
// as queueLarge is, so that its select's frame is not on every write's path.
//
//go:noinline
func (st *Stream) awaitCredit(ctx context.Context) {
	s := st.s
	s.stallEnter()
	select {
	case <-st.wwake:
	case <-st.wdl.wait():
	case <-s.done:
	case <-ctx.Done():
	}
	s.stallLeave()
}

// queueLarge copies p, a piece the send window already allows, into frames
// outside the writer's lock, then queues them. It is a function of its own so
// that the frame of WriteContext, on every small write's path, stays small.
//
//go:noinline
func (st *Stream) queueLarge(p []byte) error {
	s := st.s
	w := &s.w
	var batch [maxWriteBurst/MinFrameSize + 1]*chunk
	k := 0
	for off := 0; off < len(p); k++ {
		c := s.pools.send.get()
		c.w = headerLen + copy(c.buf[headerLen:], p[off:]) // buf holds one max frame
		off += c.w - headerLen
		batch[k] = c
	}
	w.mu.Lock()
	if err := st.writeErrLocked(); err != nil {
		w.mu.Unlock()
		for _, c := range batch[:k] {
			s.pools.put(c)
		}
		return err
	}
	for _, c := range batch[:k] {
		st.sq.push(c)
	}
	w.schedule(st)
	w.mu.Unlock()
	return nil
}

// tailLocked returns the last queued frame if more can be appended to it.
func (st *Stream) tailLocked() *chunk {
	if st.sq.len() == 0 {
		return nil
	}
	return st.sq.tail()
}

// writeErrLocked reports why the stream cannot be written. s.w.mu held.
func (st *Stream) writeErrLocked() error {
	switch {
	case st.werr != nil:
		return st.werr
	case st.finQueued:
		return net.ErrClosed
	case st.s.isDone():
		return st.s.sessionErr()
	}
	return nil
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
