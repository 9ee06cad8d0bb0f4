package transport

import (
	"sync"
	"sync/atomic"
	"time"
)

// smallChunkSize is the size of the chunks that hold small messages. Larger
// payloads use chunks sized to the frame limit.
const smallChunkSize = 2 << 10

// chunk is a pooled byte buffer. Send chunks hold one whole frame:
// buf[:headerLen] is the header (filled in by the writer) and
// buf[headerLen:w] the payload. Receive chunks hold unread payload in buf[r:w].
type chunk struct {
	buf  []byte
	r, w int
}

func (c *chunk) room() int { return len(c.buf) - c.w }

// chunkPool hands out chunks of one size.
type chunkPool struct {
	size int
	p    sync.Pool
}

func (cp *chunkPool) get() *chunk {
	if v := cp.p.Get(); v != nil {
		c := v.(*chunk)
		c.r, c.w = 0, 0
		return c
	}
	return &chunk{buf: make([]byte, cp.size)}
}

func (cp *chunkPool) put(c *chunk) { cp.p.Put(c) }

// pools is a session's set of chunk pools.
type pools struct {
	small chunkPool // smallChunkSize, both directions
	send  chunkPool // headerLen + peer's max frame size
	recv  chunkPool // this side's max frame size (at least 2*smallChunkSize)
}

func (p *pools) init(sendFrame, recvFrame int) {
	p.small.size = smallChunkSize
	p.send.size = headerLen + sendFrame
	p.recv.size = max(recvFrame, 2*smallChunkSize)
}

// put returns c to the pool of its size.
func (p *pools) put(c *chunk) {
	switch len(c.buf) {
	case p.small.size:
		p.small.put(c)
	case p.send.size:
		p.send.put(c)
	case p.recv.size:
		p.recv.put(c)
	}
}

// fifo is a slice-backed queue that reuses its storage.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(v T) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, v)
}

func (q *fifo[T]) peek() T { return q.items[q.head] }

// at returns the i-th queued item (0 is the head).
func (q *fifo[T]) at(i int) T { return q.items[q.head+i] }

func (q *fifo[T]) tail() T { return q.items[len(q.items)-1] }

func (q *fifo[T]) pop() T {
	var zero T
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return v
}

// deadline is a settable deadline whose expiry closes a channel, so blocked
// calls can select on it.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expire chan struct{} // closed when the deadline passes
	// armed is set the first time a deadline is set. Until then expire is
	// the channel made by init, unchanged, and wait reads it without the
	// lock (most streams never have a deadline).
	armed atomic.Bool
}

func (d *deadline) init() { d.expire = make(chan struct{}) }

// setTo arms the deadline at t; the zero time clears it.
func (d *deadline) setTo(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.armed.Load() {
		if t.IsZero() {
			return
		}
		d.armed.Store(true)
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.expire // the timer fired (or is firing): wait for the close
	}
	d.timer = nil
	closed := isClosed(d.expire)
	if t.IsZero() {
		if closed {
			d.expire = make(chan struct{})
		}
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		if !closed {
			close(d.expire)
		}
		return
	}
	if closed {
		d.expire = make(chan struct{})
	}
	ch := d.expire
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	if !d.armed.Load() {
		return d.expire
	}
	d.mu.Lock()
	ch := d.expire
	d.mu.Unlock()
	return ch
}

// expired reports whether the deadline has passed; a deadline never set
// has not, and costs one atomic load to ask.
func (d *deadline) expired() bool {
	return d.armed.Load() && d.passed()
}

// passed is expired's question for a deadline that was set. It is a
// function of its own so that expired is inlined.
//
//go:noinline
func (d *deadline) passed() bool {
	return isClosed(d.wait())
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
