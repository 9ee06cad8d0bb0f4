package rpc

import (
	"context"
	"reflect"
	"sync"

	"github.com/fireflyrpc/firefly/rpc/internal/wire"
)

// Held calls. A two-way call past the peer's limit (see callCredits) would
// wake its caller twice: once when a credit comes back, to send the call,
// and once for the answer. A call whose arguments all travel inline with no
// lane state (nil, scalars and records, up to maxHeldArgs encoded) is
// instead encoded at once and queued for the credit as a held call, and its
// caller waits for the answer only. Whoever gives back the credit the held
// call gets sends it: the caller woken by the answer that freed the credit
// (the answer's parser leaves the held call on its question), or, when no
// caller is woken, a goroutine of its own. The question table arbitrates
// between a caller giving up and the sender: a held call whose slot is not
// marked credited leaves the table at once when given up, and a sender
// sends only a call it could mark credited.

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
	args   []byte   // the argument count and the arguments, encoded
	small  [56]byte // args' first storage (heldCall is then 128 bytes)
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
		cr.waiting = append(cr.waiting, creditEntry{h: hc})
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
		switch a.(type) {
		case nil:
			b = append(b, wire.KindNil)
			continue
		case *Ref, referenceable:
			return nil, false
		}
		if wire.IsScalar(a) {
			b, _ = wire.AppendScalar(b, a)
		} else {
			rv := reflect.ValueOf(a)
			switch rv.Kind() {
			case reflect.Pointer, reflect.Map, reflect.Slice:
				if rv.IsNil() {
					b = append(b, wire.KindNil)
					continue
				}
			}
			v, p := c.heldPlans.RecordOf(rv)
			if p == nil {
				return nil, false
			}
			b = wire.AppendRecord(b, v, p)
		}
		if len(b) > maxHeldArgs {
			return nil, false
		}
	}
	return b, true
}

// carry sends hc, which holds a credit now, and each held call the credit
// passes to when a send fails.
func (c *Conn) carry(hc *heldCall) {
	for hc != nil {
		next := c.sendHeld(hc)
		putHeld(hc)
		hc = next
	}
}

// sendHeld sends hc with the credit passed to it. When its caller gave up
// meanwhile, or the send fails (its caller then gets the error), the credit
// passes on, and the held call it passes to, if any, is returned.
func (c *Conn) sendHeld(hc *heldCall) *heldCall {
	if !c.questions.credit(hc.id) {
		return c.passCredit() // given up, or the connection is gone
	}
	l, err := c.callLane(hc.ctx)
	if err == nil {
		// The held call's arguments are encoded already.
		if err = l.beginCall(hc.ctx, hc.r, hc.id, hc.method, false); err == nil {
			l.buf = append(l.buf, hc.args...)
			err = c.send(hc.ctx, l)
		}
		c.releaseLane(l)
	}
	if err == nil {
		c.opts.metrics.callsOut.Add(1)
		return nil
	}
	if q := c.questions.drop(hc.id); q != nil {
		q.complete(err)
	}
	return c.passCredit()
}
