package rpc

import (
	"context"
)

// control is a small message sent by the connection's control goroutine, so
// that neither the parsing of incoming messages nor a cancelling caller
// waits for a lane.
type control struct {
	typ   byte   // msgCancel, msgRelease or msgError
	id    uint64 // request id, or object id for a release
	count uint64 // release count
	err   error  // msgError
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

// queueControl queues m. With wait false (incoming messages being parsed), a
// full queue means the peer floods us with calls it does not let us answer:
// the connection is closed rather than grown without bound.
func (c *Conn) queueControl(m control, wait bool) {
	select {
	case c.ctl <- m:
		return
	case <-c.done:
		return
	default:
	}
	if !wait {
		c.shutdown(protocolErrorf("control queue full: the peer sends calls faster than refusals can be answered"))
		return
	}
	select {
	case c.ctl <- m:
	case <-c.done:
	}
}

// queueControlNoWait queues m without waiting: when the queue is full, a
// goroutine of its own waits to queue it.
func (c *Conn) queueControlNoWait(m control) {
	select {
	case c.ctl <- m:
	case <-c.done:
	default:
		go c.queueControl(m, true)
	}
}

// sendControl writes queued control messages until the connection ends.
func (c *Conn) sendControl() {
	for {
		var m control
		select {
		case m = <-c.ctl:
		case <-c.done:
			return
		}
		l, err := c.acquireLane(context.Background())
		if err != nil {
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
		if err != nil {
			return
		}
	}
}
