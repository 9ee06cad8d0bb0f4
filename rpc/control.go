package rpc

import (
	"context"
	"errors"

	"github.com/fireflyrpc/firefly/registry"
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

// stackOf returns the stack trace carried by err, if any.
func stackOf(err error) string {
	var pe *registry.PanicError
	if errors.As(err, &pe) {
		return string(pe.Stack)
	}
	return ""
}

// asPanic reports whether err is a contained handler panic.
func asPanic(err error, pe **registry.PanicError) bool { return errors.As(err, pe) }

// maxBadReleases is how many releases of references never sent a peer may
// make before the connection is closed (PB drops a broker after 3 such
// violations).
const maxBadReleases = 3

// badRelease records a release of an object this side never exported (or of
// more transmissions than were sent); repeated ones close the connection.
func (c *Conn) badRelease(id, n uint64) {
	k := c.badReleases.Add(1)
	c.log.Warn("rpc: peer released a reference it was never sent", "id", id, "count", n, "violations", k)
	if k > maxBadReleases {
		c.shutdown(protocolErrorf("%d releases of references never sent", k))
	}
}

// maxExportViolations is how many replies that would export past the
// connection's MaxExports a peer may provoke before the connection is closed
// (PB drops a broker after 3 such violations).
const maxExportViolations = 3

// exportViolation records a reply that could not be sent because it would
// export past the limit; repeated ones close the connection.
func (c *Conn) exportViolation() {
	k := c.exportViolations.Add(1)
	c.log.Warn("rpc: a reply would export past the reference limit", "limit", c.opts.maxExports, "violations", k)
	if k > maxExportViolations {
		c.shutdown(protocolErrorf("%d replies would export past the limit of %d references", k, c.opts.maxExports))
	}
}
