package rpc

import (
	"context"
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
type callCredits struct {
	ready chan struct{}              // closed once the peer's SETTINGS is applied
	got   atomic.Bool                // a SETTINGS arrived
	sem   chan struct{}              // a token per call holding a credit; nil: no limit
	timer atomic.Pointer[time.Timer] // closes a connection whose peer sends no SETTINGS
}

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
	if limit > 0 {
		c.credits.sem = make(chan struct{}, limit)
	}
	close(c.credits.ready)
	return nil
}

// takeCredit waits for a credit for one two-way call: for the peer's
// SETTINGS, then for one of the calls it allows to end, or for ctx or the
// connection to end.
func (c *Conn) takeCredit(ctx context.Context) error {
	cr := &c.credits
	select {
	case <-cr.ready:
	default:
		select {
		case <-cr.ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.err
		}
	}
	if cr.sem == nil {
		return nil
	}
	select {
	case cr.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case cr.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.err
	}
}

// returnCredit gives back a credit taken by takeCredit.
func (c *Conn) returnCredit() {
	if sem := c.credits.sem; sem != nil {
		<-sem
	}
}
