package pb

import (
	"context"
	"fmt"
	"runtime"
)

// writerKeep is the largest buffer the writer keeps for the next batch; a
// larger one (a big command went out) is let go once written.
const writerKeep = 256 << 10

// send encodes one command and queues it. With wait, the caller waits while
// the queue holds more than WithMaxQueued bytes; without (the reading
// goroutine's replies), the command is queued at once, and a queue twice the
// budget means a peer that does not read: the connection is closed.
func (c *Conn) send(ctx context.Context, cmd []any, wait bool) error {
	return c.queue(ctx, wait, func(b []byte) ([]byte, error) {
		return appendBanana(b, cmd, c.vocab)
	})
}

// sendAnswer queues [name, reqID, sexp]: an answer or an error command.
func (c *Conn) sendAnswer(ctx context.Context, name string, reqID int64, sexp any, wait bool) error {
	return c.queue(ctx, wait, func(b []byte) ([]byte, error) {
		b = appendBananaListHead(b, 3)
		b, _ = appendBananaString(b, name, c.vocab)
		b = appendBananaInt(b, reqID)
		return appendBananaValue(b, sexp, c.vocab, 1)
	})
}

// callArgs are a call's arguments for sendMessage: the Go values of a call
// of scalars (Conn.scalarCall), or the jellied args and kw.
type callArgs struct {
	scalars  []any
	args, kw any
}

// sendMessage queues ['message', reqID, r's object id, method, answer, args,
// kw].
func (c *Conn) sendMessage(ctx context.Context, reqID int64, r *remoteRef, method string, answer int64, a callArgs) error {
	return c.queue(ctx, true, func(b []byte) ([]byte, error) {
		b = appendBananaListHead(b, 7)
		b, _ = appendBananaString(b, "message", c.vocab)
		b = appendBananaInt(b, reqID)
		if r.root {
			b, _ = appendBananaString(b, "root", c.vocab)
		} else {
			b = appendBananaInt(b, r.id)
		}
		var err error
		if b, err = appendBananaString(b, method, c.vocab); err != nil {
			return b, err
		}
		b = appendBananaInt(b, answer)
		if a.args == nil {
			b = appendBananaListHead(b, len(a.scalars)+1)
			b, _ = appendBananaString(b, tagTuple, c.vocab)
			for _, v := range a.scalars {
				if b, err = appendJellyScalar(b, v, c.opts.py2Strings, c.vocab); err != nil {
					return b, err
				}
			}
			b = appendBananaListHead(b, 1)
			return appendBananaString(b, tagDictionary, c.vocab)
		}
		if b, err = appendBananaValue(b, a.args, c.vocab, 1); err != nil {
			return b, err
		}
		return appendBananaValue(b, a.kw, c.vocab, 1)
	})
}

// queue appends one command to the writer's queue with encode, which
// appends it to the buffer it is given. When encode fails nothing is
// queued. See send for wait.
func (c *Conn) queue(ctx context.Context, wait bool, encode func([]byte) ([]byte, error)) error {
	c.wmu.Lock()
	for wait && len(c.wq) > c.opts.maxQueued {
		space := writerSignal(&c.wspace)
		c.wmu.Unlock()
		select {
		case <-space:
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
		c.wmu.Lock()
	}
	select {
	case <-c.done:
		c.wmu.Unlock()
		return c.err
	default:
	}
	n := len(c.wq)
	b, err := encode(c.wq)
	if err != nil {
		c.wq = b[:n]
		c.wmu.Unlock()
		return err
	}
	c.wq = b
	over := !wait && len(b) > 2*c.opts.maxQueued
	c.wmu.Unlock()
	if over {
		c.shutdown(fmt.Errorf("pb: the peer does not read: more than %d bytes queued", 2*c.opts.maxQueued))
		return c.err
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// writerSignal returns *ch, made first when nil: a channel the writer
// closes when what its waiters wait for happens. wmu must be held.
func writerSignal(ch *chan struct{}) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// writeLoop writes the queued commands in order, all that are queued in
// one write. Woken, it first yields once, so that handlers made runnable by
// the same read queue their answers into the same write. It swaps the
// queue with a spare buffer, so a steady stream of commands needs no new
// buffer.
func (c *Conn) writeLoop() {
	var spare []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		runtime.Gosched()
		c.wmu.Lock()
		q := c.wq
		c.wq = spare[:0]
		c.writing = len(q) > 0
		if c.wspace != nil { // callers wait for room
			close(c.wspace)
			c.wspace = nil
		}
		c.wmu.Unlock()
		if len(q) > 0 {
			if _, err := c.nc.Write(q); err != nil {
				c.shutdown(err)
				return
			}
		}
		spare = q
		if cap(spare) > writerKeep {
			spare = nil
		}
		c.wmu.Lock()
		if len(c.wq) == 0 {
			c.writing = false
			if c.widle != nil {
				close(c.widle)
				c.widle = nil
			}
		}
		c.wmu.Unlock()
	}
}

// appendJellyScalar appends the Banana encoding of the jelly expression
// jellyScalar makes of v, without making it.
func appendJellyScalar(b []byte, v any, py2, pb bool) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		b = appendBananaListHead(b, 1)
		return appendBananaString(b, tagNone, pb)
	case bool:
		b = appendBananaListHead(b, 2)
		b, _ = appendBananaString(b, tagBoolean, pb)
		if x {
			return appendBananaString(b, "true", pb)
		}
		return appendBananaString(b, "false", pb)
	case int:
		return appendBananaInt(b, int64(x)), nil
	case int64:
		return appendBananaInt(b, x), nil
	case string:
		if py2 {
			return appendBananaString(b, x, pb)
		}
		b = appendBananaListHead(b, 2)
		b, _ = appendBananaString(b, tagUnicode, pb)
		return appendBananaString(b, x, pb)
	}
	return appendBananaValue(b, v, pb, 1) // float64, []byte
}
