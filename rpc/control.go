package rpc

import (
	"context"
	"sync"
)

// control is a small message sent by the connection's control goroutine, so
// that neither the parsing of incoming messages nor a cancelling caller
// waits for a lane.
type control struct {
	typ   byte   // msgCancel, msgRelease or msgError
	id    uint64 // request id, or object id for a release
	count uint64 // release count
	err   error  // msgError
	// charge is the answer-budget bytes of the call a msgError refuses,
	// returned once the refusal is handed to the transport.
	charge int
}

// queueCancel tells the peer that the caller gave up on request id, and
// why: its context's error (context.Canceled or DeadlineExceeded).
func (c *Conn) queueCancel(id uint64, why error) {
	c.queueControl(control{typ: msgCancel, id: id, err: why}, true)
}

// queueRelease tells the peer that n transmissions of its object id are
// released.
func (c *Conn) queueRelease(id, n uint64) {
	c.queueControl(control{typ: msgRelease, id: id, count: n}, true)
}

// controlQueue holds the control messages waiting to be sent. The goroutine
// that sends them runs only while some wait: it is started by the first
// message queued and ends when the queue is empty.
type controlQueue struct {
	mu      sync.Mutex
	q       []control
	running bool // the sending goroutine runs
}

// pending reports whether control messages wait or are being sent.
func (cq *controlQueue) pending() bool {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	return len(cq.q) > 0 || cq.running
}

// queueControl queues m; it never waits. Messages of this side's own (own
// true: cancels, releases) are always queued; their number is bounded by
// this side's own calls and references. Of those answering the peer's
// messages (own false), at most WithMaxHandlers' twice (and at least 64)
// may wait: more means the peer floods us with calls it does not let us
// answer, and the connection is closed rather than the queue grown without
// bound.
func (c *Conn) queueControl(m control, own bool) {
	cq := &c.ctl
	cq.mu.Lock()
	if c.Err() != nil {
		cq.mu.Unlock()
		return
	}
	if !own && len(cq.q) >= c.opts.controlQueue {
		cq.mu.Unlock()
		c.shutdown(protocolErrorf("control queue full: the peer sends calls faster than refusals can be answered"))
		return
	}
	cq.q = append(cq.q, m)
	start := !cq.running
	cq.running = true
	cq.mu.Unlock()
	if start {
		go c.sendControl()
	}
}

// sendControl writes queued control messages until none is left or the
// connection ends.
func (c *Conn) sendControl() {
	cq := &c.ctl
	for {
		cq.mu.Lock()
		if len(cq.q) == 0 || c.Err() != nil {
			cq.q = nil
			cq.running = false
			cq.mu.Unlock()
			return
		}
		m := cq.q[0]
		cq.q[0] = control{}
		cq.q = cq.q[1:]
		cq.mu.Unlock()
		l, err := c.acquireLane(context.Background())
		if err != nil {
			cq.mu.Lock()
			cq.q = nil
			cq.running = false
			cq.mu.Unlock()
			return
		}
		switch m.typ {
		case msgCancel:
			l.begin(msgCancel)
			l.buf = appendUvarint(l.buf, m.id)
			l.buf = append(l.buf, byte(codeOf(m.err)))
		case msgRelease:
			l.begin(msgRelease)
			l.buf = appendUvarint(l.buf, m.id)
			l.buf = appendUvarint(l.buf, m.count)
		case msgError:
			c.appendError(l, m.id, m.err)
		}
		err = c.send(context.Background(), l)
		c.releaseLane(l)
		c.lanes.budget.releaseBytes(m.charge)
		if err != nil {
			cq.mu.Lock()
			cq.q = nil
			cq.running = false
			cq.mu.Unlock()
			return
		}
	}
}
