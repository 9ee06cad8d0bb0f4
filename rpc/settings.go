package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// SETTINGS identifiers (docs/PROTOCOL.md, part 2).
const (
	// settingMaxCalls is the number of two-way calls from the receiver that
	// the sender runs at once (its MaxHandlers).
	settingMaxCalls = 1
)

// maxSettings bounds the settings one SETTINGS message may carry.
const maxSettings = 64

// maxCallsLimit bounds the call limit a peer may announce: more calls than
// that never wait for answers at once (see questionTable).
const maxCallsLimit = 1 << slotBits

// callCredits is this side's view of the peer's limit on the two-way calls
// it runs at once. A two-way call takes a credit before it is written and
// gives it back when its answer arrives (also after the caller gave up on
// it: the peer's handler may run until then), so the peer never has more
// of this side's calls than it announced, and calls past the limit wait
// here, bounded by their context, instead of being refused by the peer.
// Waiting calls queue first come first served; a credit given back passes
// straight to the first of them: a held call (see held.go), which whoever
// gave the credit back sends, or a caller waiting on a channel of its own.
type callCredits struct {
	ready   chan struct{}              // closed once the peer's SETTINGS is applied
	settled atomic.Bool                // ready is closed (read without a select)
	got     atomic.Bool                // a SETTINGS arrived
	timer   atomic.Pointer[time.Timer] // closes a connection whose peer sends no SETTINGS

	mu      sync.Mutex
	limit   int // credits the peer grants; 0: no limit
	used    int
	waiting creditQueue // first come, first served
	closed  error       // set when the connection is gone

	// Held calls that credits passed to, waiting to be sent by the one
	// goroutine carrying them (see Conn.carry), which is running while
	// carrying is set; spare is the storage of the last batch it sent.
	sending  []*heldCall
	spare    []*heldCall
	carrying bool
}

// creditWaiter is a call waiting for a credit. Once it is out of the
// queue, err tells how: nil for a credit, the connection's error when it
// ended; ready is signalled then.
type creditWaiter struct {
	ready  chan struct{}
	err    error
	queued bool
}

// free reports whether a call may take a credit now: the peer set no
// limit, or one is left and no call waits for one. cr.mu must be held.
func (cr *callCredits) free() bool {
	return cr.limit == 0 || (cr.used < cr.limit && cr.waiting.len() == 0)
}

// creditEntry is a place in the queue for credits: a caller waiting for
// one (w), or a held call (h).
type creditEntry struct {
	w *creditWaiter
	h *heldCall
}

var creditWaiterPool = sync.Pool{New: func() any { return &creditWaiter{ready: make(chan struct{}, 1)} }}

// announce sends this side's SETTINGS, the first message of the first lane
// it opens. It is called before anything else can send on the connection.
func (c *Conn) announce() error {
	l, err := c.acquireLane(context.Background())
	if err != nil {
		return err
	}
	l.begin(msgSettings)
	l.buf = appendUvarint(l.buf, 1)
	l.buf = appendUvarint(l.buf, settingMaxCalls)
	l.buf = appendUvarint(l.buf, uint64(c.opts.maxHandlers))
	err = c.send(context.Background(), l)
	c.releaseLane(l)
	return err
}

// awaitSettings arms the timer that closes the connection when the peer's
// SETTINGS has not arrived within the handshake timeout.
func (c *Conn) awaitSettings() {
	d := c.opts.handshakeTimeout()
	c.credits.timer.Store(time.AfterFunc(d, func() {
		if !c.credits.got.Load() {
			c.shutdown(protocolErrorf("no SETTINGS from the peer within %v", d))
		}
	}))
}

// readSettings applies the peer's SETTINGS. Unknown settings are ignored; a
// second SETTINGS, or a call limit of 0, is a violation.
func (in *inLane) readSettings() error {
	c := in.c
	n, err := in.mr.uvarint()
	if err != nil {
		return err
	}
	if n > maxSettings {
		return protocolErrorf("SETTINGS with %d settings", n)
	}
	limit := uint64(0)
	for range n {
		id, err := in.mr.uvarint()
		if err != nil {
			return err
		}
		v, err := in.mr.uvarint()
		if err != nil {
			return err
		}
		if id == settingMaxCalls {
			if v == 0 {
				return protocolErrorf("SETTINGS with a call limit of 0")
			}
			limit = min(v, maxCallsLimit)
		}
	}
	if !c.credits.got.CompareAndSwap(false, true) {
		return protocolErrorf("a second SETTINGS")
	}
	if t := c.credits.timer.Load(); t != nil {
		t.Stop()
	}
	c.credits.mu.Lock()
	c.credits.limit = int(limit)
	c.credits.mu.Unlock()
	close(c.credits.ready)
	c.credits.settled.Store(true)
	return nil
}

// takeCredit waits for a credit for one two-way call: for the peer's
// SETTINGS, then for one of the calls it allows to end, or for ctx or the
// connection to end.
func (c *Conn) takeCredit(ctx context.Context) error {
	got, err := c.tryCredit(ctx)
	if err != nil || got {
		return err
	}
	cr := &c.credits
	cr.mu.Lock()
	if cr.closed != nil {
		cr.mu.Unlock()
		return cr.closed
	}
	if cr.free() {
		cr.used++
		cr.mu.Unlock()
		return nil
	}
	w := creditWaiterPool.Get().(*creditWaiter)
	w.queued = true
	cr.waiting.push(creditEntry{w: w})
	cr.mu.Unlock()
	return c.awaitCredit(ctx, w)
}

// tryCredit waits for the peer's SETTINGS (bounded by ctx and the
// connection), then takes a credit if one is free and no call waits for
// one.
func (c *Conn) tryCredit(ctx context.Context) (bool, error) {
	cr := &c.credits
	if !cr.settled.Load() {
		select {
		case <-cr.ready:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c.done:
			return false, c.err
		}
	}
	cr.mu.Lock()
	switch {
	case cr.closed != nil:
		err := cr.closed
		cr.mu.Unlock()
		return false, err
	case cr.free():
		cr.used++
		cr.mu.Unlock()
		return true, nil
	}
	cr.mu.Unlock()
	return false, nil
}

// awaitCredit waits until w, queued for a credit, is granted one, or the
// connection or ctx ends; a credit granted when ctx has ended is given
// back, so a call given up is never sent.
func (c *Conn) awaitCredit(ctx context.Context, w *creditWaiter) error {
	cr := &c.credits
	if done := ctx.Done(); done == nil {
		<-w.ready
	} else {
		select {
		case <-w.ready:
		case <-done:
			cr.mu.Lock()
			if w.queued {
				// Left in the queue, skipped when its turn comes.
				w.queued = false
				w.err = ctx.Err()
				cr.mu.Unlock()
				return ctx.Err() // w is not reused: the queue still holds it
			}
			cr.mu.Unlock()
			<-w.ready // granted meanwhile, or failed by the close
			if w.err == nil {
				c.returnCredit()
			}
			w.err = nil
			creditWaiterPool.Put(w)
			return ctx.Err()
		}
	}
	err := w.err
	w.err = nil
	creditWaiterPool.Put(w)
	if err == nil {
		if err = ctx.Err(); err != nil {
			// Granted as ctx ended: the call is given up all the same.
			c.returnCredit()
		}
	}
	return err
}

// returnCredit gives back a credit taken by takeCredit: to the first call
// still waiting for one, if any; a held call it passes to is sent by a
// goroutine of its own when none carries held calls already.
func (c *Conn) returnCredit() {
	if c.passCredit() {
		go c.carry()
	}
}

// passCredit gives back a credit: to the first caller still waiting for
// one, which it wakes, or to the first held call, which it queues to be
// sent. It reports whether the caller is to carry the queued held calls
// (see carry): true when it queued one and no goroutine carries them.
func (c *Conn) passCredit() (carry bool) {
	cr := &c.credits
	cr.mu.Lock()
	if cr.limit == 0 || cr.closed != nil {
		cr.mu.Unlock()
		return false
	}
	for cr.waiting.len() > 0 {
		e := cr.waiting.pop()
		if e.h != nil {
			cr.sending = append(cr.sending, e.h)
			carry = !cr.carrying
			cr.carrying = true
			cr.mu.Unlock()
			return carry
		}
		if e.w.queued {
			e.w.queued = false
			cr.mu.Unlock()
			e.w.ready <- struct{}{}
			return false
		}
	}
	cr.used--
	cr.mu.Unlock()
	return false
}

// closeCredits fails the calls waiting for a credit with err, and those
// that come later, and drops the held calls (whose questions the
// connection's end completed); it is called once the connection has
// ended.
func (c *Conn) closeCredits(err error) {
	cr := &c.credits
	cr.mu.Lock()
	cr.closed = err
	var failed []*creditWaiter
	cr.waiting.clear(func(e creditEntry) {
		if w := e.w; w != nil && w.queued {
			w.queued = false
			w.err = err
			failed = append(failed, w)
		}
	})
	cr.sending = nil
	cr.mu.Unlock()
	for _, w := range failed {
		w.ready <- struct{}{}
	}
}
