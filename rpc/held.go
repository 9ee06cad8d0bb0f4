package rpc

import (
	"context"
	"sync"
)

// Held calls. A two-way call past the peer's limit (see callCredits) would
// wake its caller twice: once when a credit comes back, to send the call,
// and once for the answer. A call whose arguments all travel inline with no
// lane state (nil, scalars and records, up to maxHeldArgs encoded) is
// instead encoded at once and queued for the credit as a held call, and its
// caller waits for the answer only. A credit given back passes to the
// first held call in line, which joins the held calls waiting to be sent;
// one goroutine at a time carries those, sending all that wait at once as
// consecutive messages of one lane in one write. The carrier is the caller
// woken by the answer that freed a credit while none carried (the answer's
// parser marks its question), or, when no caller is woken, a goroutine of
// its own. So answers that arrive together let go of their held calls
// together, with one lane taken and one write, instead of one each. The
// question table arbitrates between a caller giving up and the sender: a
// held call whose slot is not marked credited leaves the table at once when
// given up, and a sender sends only a call it could mark credited.

// maxHeldArgs bounds the encoded arguments of a held call; a call with
// larger ones waits for its credit in its caller, as one with arguments
// that need a lane (gob values, references).
const maxHeldArgs = 4 << 10

// heldCall is a call queued for a credit with its arguments encoded. Once
// queued it belongs to the queue, then to the sender the credit passes it
// to, which gives it back to heldPool: its caller never sees it again, even
// when it gives up.
type heldCall struct {
	ctx    context.Context
	r      *Ref
	method string
	id     uint64
	given  bool     // not to be sent: its caller gave up, or it failed
	args   []byte   // the argument count and the arguments, encoded
	small  [48]byte // args' first storage (heldCall is then 128 bytes)
}

var heldPool = sync.Pool{New: func() any { return new(heldCall) }}

// putHeld gives hc, done with, back to heldPool.
func putHeld(hc *heldCall) {
	args := hc.args
	*hc = heldCall{}
	if cap(args) <= maxHeldArgs && cap(args) > len(hc.small) {
		hc.args = args[:0] // keep a grown buffer
	}
	heldPool.Put(hc)
}

// hold queues the call of request id, registered uncredited, as a held
// call, when its arguments allow it and no credit is free (held). A credit
// freed meanwhile is taken instead (got); neither: the caller waits for
// one itself.
func (c *Conn) hold(ctx context.Context, r *Ref, method string, args []any, id uint64) (held, got bool, err error) {
	hc := heldPool.Get().(*heldCall)
	buf := hc.args
	if buf == nil {
		buf = hc.small[:0]
	}
	var ok bool
	if hc.args, ok = c.heldArgs(buf, args); !ok {
		putHeld(hc)
		return false, false, nil
	}
	hc.ctx, hc.r, hc.method, hc.id = ctx, r, method, id
	cr := &c.credits
	cr.mu.Lock()
	switch {
	case cr.closed != nil:
		err = cr.closed
	case cr.free():
		cr.used++
		got = true
	default:
		cr.waiting.push(creditEntry{h: hc})
		held = true
	}
	cr.mu.Unlock()
	if !held {
		putHeld(hc)
	}
	return held, got, err
}

// heldArgs appends args to b as a call's argument section when each
// travels inline with no lane state, as writeCall would encode it, in at
// most maxHeldArgs bytes.
func (c *Conn) heldArgs(b []byte, args []any) ([]byte, bool) {
	b = appendUvarint(b, uint64(len(args)))
	for _, a := range args {
		var how inlined
		if b, how = appendInlineArg(b, a, c.heldPlans.RecordOf); how != argWritten || len(b) > maxHeldArgs {
			return nil, false
		}
	}
	return b, true
}

// carryRounds bounds the batches one goroutine carries before it leaves
// the rest to a goroutine of its own: a caller of Ref.Call carrying them
// returns with its own answer in good time.
const carryRounds = 4

// carry sends the held calls that credits passed to, a batch at a time: all
// those queued when it looks, on one lane in one write. It runs in the one
// goroutine that passCredit told to carry them, until none is queued.
func (c *Conn) carry() {
	cr := &c.credits
	var sent []*heldCall
	for range carryRounds {
		cr.mu.Lock()
		if sent != nil {
			cr.spare = sent[:0]
		}
		batch := cr.sending
		if len(batch) == 0 {
			cr.carrying = false
			cr.mu.Unlock()
			return
		}
		cr.sending, cr.spare = cr.spare, nil
		cr.mu.Unlock()
		c.sendHeld(batch)
		clear(batch)
		sent = batch
	}
	go c.carry()
}

// sendHeld sends batch, held calls that credits passed to, as consecutive
// messages of one lane in one write. A call whose caller gave up meanwhile
// is not sent; nor is one whose context has ended, even if the watch on
// that context has not given it up yet. One that cannot be sent (its
// context ended, the connection is going away, or the write failed)
// leaves the table, and its caller gets the error. The credits of both
// pass on.
func (c *Conn) sendHeld(batch []*heldCall) {
	passes := c.questions.creditHeld(batch)
	fail := func(hc *heldCall, err error) {
		if q := c.questions.drop(hc.id); q != nil {
			q.complete(err)
		}
		hc.given = true
		passes++
	}
	var l *outLane
	var err error
	n := 0
	for _, hc := range batch {
		if hc.given {
			continue
		}
		if c.refusesCalls(hc.ctx) {
			fail(hc, errLanesClosed)
			continue
		}
		if err := hc.ctx.Err(); err != nil {
			// Given up, or about to be: the watch on its context may not
			// have run yet.
			fail(hc, err)
			continue
		}
		if l == nil {
			if l, err = c.acquireLane(context.Background()); err != nil {
				fail(hc, err)
				continue
			}
		}
		mark := len(l.buf)
		at := l.next(msgCall, n == 0)
		if err := l.callHead(hc.ctx, hc.r, hc.id, hc.method, false); err != nil {
			l.buf = l.buf[:mark]
			fail(hc, err)
			continue
		}
		l.buf = append(l.buf, hc.args...) // encoded already
		if size := l.seal(at); size > c.opts.maxMessageSize {
			l.buf = l.buf[:mark]
			fail(hc, tooLarge(size, c.opts.maxMessageSize))
			continue
		}
		n++
	}
	if n > 0 {
		if c.opts.idleTimeout > 0 {
			c.touch()
		}
		if err = c.write(context.Background(), l, l.buf, true); err != nil {
			for _, hc := range batch {
				if !hc.given {
					fail(hc, err)
				}
			}
		} else {
			c.opts.metrics.callsOut.Add(uint64(n))
		}
	}
	if l != nil {
		c.releaseLane(l)
	}
	for _, hc := range batch {
		putHeld(hc)
	}
	for range passes {
		c.passCredit() // the carrier sends a held call it passes to
	}
}
