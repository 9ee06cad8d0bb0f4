package transport

import (
	"context"
	"net"
	"os"
)

// maxWriteBurst is how much of one large Write is copied and queued at a time,
// so the writer goroutine starts sending while the rest is being copied.
const maxWriteBurst = 256 << 10

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
	if ok, start := st.writeSmall(p); ok {
		if start {
			go st.s.w.loop()
		}
		return len(p), nil
	}
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

// writeSmall queues p, as write does, when p is small enough for one frame
// and the stream may send it now: appended to the frame of the stream still
// waiting to be sent, or in a small chunk of its own. Unless the queue is
// being drained, it marks the writer running under the same lock and reports
// start: the caller then starts the writer goroutine, outside this frame. It
// reports false, having done nothing, in every other case (write's lock
// taken, a deadline, no credit, an error), which write handles. It is write's common case in a
// frame of its own, smaller than write's, so that a call from a freshly
// started goroutine, whose stack is 2 KiB, reaches the end of its write
// without growing that stack. Its queueing repeats write's loop body rather
// than calling a helper shared with write: the helper, too large to inline,
// put a frame more on this path, and the bursts' calls grew their stacks
// again (16.0k-16.3k instructions a call with one processor against 15.2k).
func (st *Stream) writeSmall(p []byte) (ok, start bool) {
	s := st.s
	if len(p) == 0 || len(p) > s.smallSendMax || !st.wmu.TryLock() {
		return false, false
	}
	w := &s.w
	if st.wdl.expired() {
		st.wmu.Unlock()
		return false, false
	}
	w.mu.Lock()
	if int(st.swin) < len(p) || st.writeErrLocked() != nil {
		w.mu.Unlock()
		st.wmu.Unlock()
		return false, false
	}
	st.swin -= uint32(len(p))
	if tail := st.tailLocked(); tail != nil && s.sendFrameEnd(tail)-tail.w >= len(p) {
		tail.w += copy(tail.buf[tail.w:], p)
	} else {
		c := s.pools.small.get()
		c.w = headerLen + copy(c.buf[headerLen:], p)
		st.sq.push(c)
	}
	w.enqueue(st)
	start = w.claimLocked()
	w.mu.Unlock()
	st.wmu.Unlock()
	return true, start
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
			s.needReader()
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
