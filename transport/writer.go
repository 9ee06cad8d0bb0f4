package transport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// Batch limits: one batch is what the writer hands to the kernel in one
// (vectored) write. They bound how long a small frame that arrives while a
// batch is being written waits.
const (
	maxBatchFrames = 128
	maxBatchBytes  = 256 << 10
	// maxCtrlQueued bounds control frames the peer can make us queue (ping
	// answers, refusals) while it does not read them.
	maxCtrlQueued = 1 << 20
	// unsentLimit bounds the unsent bytes a TCP connection's kernel buffer
	// holds (see limitUnsent). Measured here: at 64 KiB a small call's p99
	// under a 16 MiB transfer is about 1 ms (about 2 ms at 256 KiB), and one
	// stream's throughput does not drop.
	unsentLimit = 64 << 10
)

// writer is the session's only writer to the connection. Stream writes copy
// into pooled chunks and queue them; whoever drains the queue writes it in as
// few syscalls as it can: control frames first, then one DATA frame per stream
// in round-robin order. A WriteInline that finds nobody draining writes its
// batch itself (see flush); everything else, and what is left after that one
// batch, is written by a goroutine started for it, which ends when the queue
// is empty. An idle session has no writer goroutine.
type writer struct {
	s *Session

	mu      sync.Mutex
	ctrl    []byte        // queued control frames (encoded)
	spare   []byte        // the other control buffer, written last batch
	late    []byte        // queued GOAWAY frames: sent after the SYN of every stream opened before them
	ring    fifo[*Stream] // streams with frames to send, round-robin
	running bool          // a goroutine or a writing caller is draining the queue

	// Used by the one draining the queue only.
	// The connection's write deadline was last pushed back at epoch plus
	// deadlineAt (never when deadlineSet is false). The wall clock is read
	// once, for epoch: time.Since of it reads only the monotonic clock.
	epoch       time.Time
	deadlineAt  time.Duration
	deadlineSet bool
	vectored    bool
	bw          *bufio.Writer
	vec         net.Buffers
	iov         [][]byte
	taken       []*chunk
	hdrs        []byte
	finished    []*Stream
}

func (w *writer) init(s *Session) {
	w.s = s
	w.epoch = time.Now()
	switch s.conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.vectored = true
	default:
		w.bw = bufio.NewWriterSize(s.conn, 64<<10)
	}
}

// kickLocked starts the writer goroutine unless the queue is being drained
// already. w.mu must be held.
func (w *writer) kickLocked() {
	if w.claimLocked() {
		go w.loop()
	}
}

// claimLocked marks the writer running when it is not, and reports whether
// it did: the caller then starts its goroutine (w.loop). w.mu must be held.
func (w *writer) claimLocked() bool {
	if w.running {
		return false
	}
	w.running = true
	return true
}

// kick is kickLocked for a caller that does not hold w.mu.
func (w *writer) kick() {
	w.mu.Lock()
	w.kickLocked()
	w.mu.Unlock()
}

// schedule puts st in the round-robin ring and makes sure it is drained.
// w.mu must be held.
func (w *writer) schedule(st *Stream) {
	w.enqueue(st)
	w.kickLocked()
}

// enqueue puts st in the round-robin ring; the caller calls flush once it
// is done queueing. w.mu must be held.
func (w *writer) enqueue(st *Stream) {
	if !st.inRing {
		st.inRing = true
		w.ring.push(st)
	}
}

func (w *writer) queueWindowUpdate(id, inc uint32) {
	w.mu.Lock()
	w.ctrl = appendWindowUpdate(w.ctrl, id, inc)
	w.kickLocked()
	w.mu.Unlock()
}

// queueReset queues an RST; it reports false if the control queue is over its
// bound (the peer is not reading).
func (w *writer) queueReset(id uint32, code ResetCode) bool {
	w.mu.Lock()
	ok := len(w.ctrl) < maxCtrlQueued
	if ok {
		w.ctrl = appendReset(w.ctrl, id, code)
		w.kickLocked()
	}
	w.mu.Unlock()
	return ok
}

// queuePing queues a PING or an answer; it reports false if the control queue
// is over its bound.
func (w *writer) queuePing(ack bool, opaque uint64) bool {
	w.mu.Lock()
	ok := len(w.ctrl) < maxCtrlQueued
	if ok {
		w.ctrl = appendPing(w.ctrl, ack, opaque)
		w.kickLocked()
	}
	w.mu.Unlock()
	return ok
}

// queueGoAway queues a GOAWAY. Unlike other control frames it does not
// overtake data: it leaves only once every stream opened before it has sent
// its SYN, so the peer never sees a GOAWAY before a stream the sender had
// already opened.
func (w *writer) queueGoAway(last uint32, code GoAwayCode, reason string) {
	w.mu.Lock()
	w.late = appendGoAway(w.late, last, code, reason)
	w.kickLocked()
	w.mu.Unlock()
}

// flush drains the queue on the calling goroutine when nobody else does: it
// writes one batch (what it queued, and whatever else is waiting) and leaves
// anything queued after it to the writer goroutine. A caller that finds the
// queue being drained leaves its frames to that drainer, which takes them
// with its next batch.
func (w *writer) flush() {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return
	}
	w.running = true
	w.drain(true)
}

// loop is the writer goroutine: it drains the queue until it is empty.
func (w *writer) loop() {
	// Let the goroutines that are ready run first and queue their frames
	// too, so that one write carries them all.
	runtime.Gosched()
	w.mu.Lock()
	w.drain(false)
}

// pending reports whether anything waits to be written. w.mu must be held.
func (w *writer) pending() bool {
	return len(w.ctrl) > 0 || w.ring.len() > 0 || len(w.late) > 0
}

// drain writes batches until the queue is empty; inline (a writing caller)
// it writes one and hands what is left to the writer goroutine. It is called
// with w.mu held and w.running set, and returns with w.mu released; w.running
// is cleared when it returns on an empty queue.
func (w *writer) drain(inline bool) {
	s := w.s
	yield := false
	for {
		if s.isDone() {
			w.mu.Unlock()
			if inline {
				go w.finish() // it may wait for the peer: not on a caller
			} else {
				w.finish()
			}
			return
		}
		if !w.pending() {
			w.running = false
			w.mu.Unlock()
			return
		}
		if yield {
			yield = false
			w.mu.Unlock()
			if inline {
				go w.loop()
				return
			}
			// Let the goroutines that are ready run before taking the
			// next batch: the frames they queue leave together.
			runtime.Gosched()
			w.mu.Lock()
			continue
		}
		iov := w.build()
		w.mu.Unlock()

		for _, st := range w.finished {
			st.markFinSent()
		}
		clear(w.finished)
		w.finished = w.finished[:0]

		w.pushDeadline()
		err := w.write(iov)
		w.returnTaken()
		if err != nil {
			w.failed(err)
			return
		}
		w.mu.Lock()
		yield = true
	}
}

// failed ends the session after a write to the connection failed with err,
// and returns the session's error. The caller holds w.running, which stays
// set: nothing more is written.
func (w *writer) failed(err error) error {
	s := w.s
	if errors.Is(err, os.ErrDeadlineExceeded) && !s.isDone() {
		err = fmt.Errorf("%w: %w: the peer read nothing for %v", ErrConnectionLost, ErrSendStalled, s.cfg.SendStallTimeout)
	} else {
		err = fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	s.shutdown(err, false)
	s.conn.Close()
	return err
}

// pushDeadline keeps the connection's write deadline SendStallTimeout ahead,
// so that a write the peer does not drain fails after that long. It moves
// the deadline only once an eighth of the timeout has passed, so most
// batches cost no more than reading the clock. Once the session is closing
// the deadline is the final flush's.
func (w *writer) pushDeadline() {
	limit := w.s.cfg.SendStallTimeout
	if limit <= 0 {
		return
	}
	at := time.Since(w.epoch)
	if w.deadlineSet && at-w.deadlineAt < limit/8 {
		return
	}
	w.deadlineAt, w.deadlineSet = at, true
	now := w.epoch.Add(at)
	w.s.conn.SetWriteDeadline(now.Add(limit))
	if w.s.isDone() {
		w.s.conn.SetWriteDeadline(now.Add(finalFlushTimeout))
	}
}

// build collects the next batch. w.mu must be held.
func (w *writer) build() [][]byte {
	iov := w.iov[:0]
	w.taken = w.taken[:0]
	w.hdrs = w.hdrs[:0]
	if len(w.ctrl) > 0 {
		iov = append(iov, w.ctrl)
		w.ctrl, w.spare = w.spare[:0], w.ctrl
	}
	size := 0
	for w.ring.len() > 0 && len(iov) <= maxBatchFrames && size < maxBatchBytes {
		st := w.ring.pop()
		st.inRing = false
		if st.reset {
			continue // reset: nothing more goes on the wire
		}
		var flags uint8
		if !st.synSent {
			flags |= flagSYN
			st.synSent = true
			st.sentSYN.Store(true)
		}
		var c *chunk
		if st.sq.len() > 0 {
			c = st.sq.pop()
		}
		if st.finQueued && !st.finSent && st.sq.len() == 0 {
			flags |= flagFIN
			st.finSent = true
			w.finished = append(w.finished, st)
		}
		switch {
		case c != nil:
			putHeader(c.buf, typeData, flags, st.id, uint32(c.w-headerLen))
			iov = append(iov, c.buf[:c.w])
			w.taken = append(w.taken, c)
			size += c.w
		case flags != 0:
			n := len(w.hdrs)
			w.hdrs = appendHeader(w.hdrs, typeData, flags, st.id, 0)
			iov = append(iov, w.hdrs[n:])
			size += headerLen
		}
		if st.sq.len() > 0 || (st.finQueued && !st.finSent) {
			st.inRing = true
			w.ring.push(st)
		}
	}
	if len(w.late) > 0 && !w.unopenedLocked() {
		iov = append(iov, w.late)
		w.late = nil
	}
	w.iov = iov
	return iov
}

// unopenedLocked reports whether a stream waiting to send has not sent its
// SYN yet. w.mu must be held.
func (w *writer) unopenedLocked() bool {
	for i := range w.ring.len() {
		if st := w.ring.at(i); !st.synSent && !st.reset {
			return true
		}
	}
	return false
}

func (w *writer) write(iov [][]byte) error {
	var n uint64
	for _, b := range iov {
		n += uint64(len(b))
	}
	w.s.bytesOut.Add(n)
	if w.vectored {
		if len(iov) == 1 {
			_, err := w.s.conn.Write(iov[0])
			return err
		}
		w.vec = iov
		_, err := w.vec.WriteTo(w.s.conn)
		w.vec = nil
		return err
	}
	for _, b := range iov {
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// finish writes what is still queued — control frames, the streams' data,
// and a final GOAWAY — when the session closes gracefully (bounded by the
// connection's write deadline), then closes the connection. After Close the
// connection is already closed: the first write fails and nothing goes out.
//
// It half-closes first and waits (at most finalFlushTimeout) for the reader to
// see the peer close its side. Closing a TCP socket while frames the peer sent
// (window updates, say) sit unread in its receive queue makes the kernel
// reset the connection and drop what it had not sent yet: the end of the
// data and the GOAWAY.
func (w *writer) finish() {
	var err error
	for {
		w.mu.Lock()
		iov := w.build()
		w.mu.Unlock()
		if len(iov) == 0 {
			break
		}
		err = w.write(iov)
		w.returnTaken()
		if err != nil {
			break
		}
	}
	if hc, ok := w.s.conn.(interface{ CloseWrite() error }); ok && err == nil && hc.CloseWrite() == nil {
		select {
		case <-w.s.readDone:
		case <-time.After(finalFlushTimeout):
		}
	}
	w.s.conn.Close()
}

// returnTaken gives the chunks the last batch wrote back to the pools.
func (w *writer) returnTaken() {
	for i, c := range w.taken {
		w.s.pools.put(c)
		w.taken[i] = nil
	}
}
