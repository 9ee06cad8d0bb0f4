package rpc

import (
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"

	"github.com/fireflyrpc/firefly/transport"
)

// A lane is a transport stream that carries messages one way, with its own
// persistent gob encoder (on the sending side) and decoder (on the receiving
// side). gob sends each type's description once per stream and refers to it by
// id afterwards, so a lane's messages must be decoded in the order they were
// encoded: a message is therefore encoded whole, and written whole, by the
// one sender holding the lane. Concurrent senders hold different lanes, and
// the transport interleaves their frames, so a small message never waits for
// a large one. See docs/PROTOCOL.md, part 2.
type outLane struct {
	st     *transport.Stream
	enc    *gob.Encoder
	buf    []byte
	tail   []byte // a large byte slice that ends the message, written as is
	broken bool   // the encoder's state no longer matches what was sent
	plans  map[reflect.Type]*recordPlan
}

// Write appends gob's output to the message being built.
func (l *outLane) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// maxKeptBuffer is the largest message buffer a lane keeps between messages.
const maxKeptBuffer = 256 << 10

// begin starts a message of type typ.
func (l *outLane) begin(typ byte) {
	l.buf = append(l.buf[:0], 0, 0, 0, 0, typ)
}

// laneSet is the pool of a connection's outgoing lanes: ready holds the open
// lanes no sender holds; slots holds one token per lane that may still be
// opened (a broken lane gives its token back). Senders prefer an open lane and
// open a new one only when every open lane is busy, so a connection uses as
// few lanes as its concurrency needs.
type laneSet struct {
	ready chan *outLane
	slots chan struct{}
	max   int
}

// sessionConfig returns the transport configuration of a connection: the
// user's (WithTransportConfig), with MaxStreams set to the lane limit. A
// peer's lanes are the only streams it opens, so the limit the transport
// announces in its preface, and enforces, is the number of lanes the peer
// may open (WithMaxLanes); it also caps the lanes this side opens.
func (o *options) sessionConfig() *transport.Config {
	cfg := transport.DefaultConfig()
	if o.transport != nil {
		cfg = *o.transport
	}
	cfg.MaxStreams = min(o.maxLanes, transport.MaxStreamsLimit)
	return &cfg
}

func (s *laneSet) init(max int) {
	s.max = max
	s.ready = make(chan *outLane, max)
	s.slots = make(chan struct{}, max)
	for range max {
		s.slots <- struct{}{}
	}
}

// acquireLane takes an open lane, or opens one when all are busy and a slot
// is free, or waits for one.
func (c *Conn) acquireLane(ctx context.Context) (*outLane, error) {
	select {
	case l := <-c.lanes.ready:
		return l, nil
	default:
	}
	select {
	case l := <-c.lanes.ready:
		return l, nil
	case <-c.lanes.slots:
		return c.openLane(ctx)
	default:
	}
	select {
	case l := <-c.lanes.ready:
		return l, nil
	case <-c.lanes.slots:
		return c.openLane(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.err
	}
}

// openLane opens a lane in a slot the caller took.
func (c *Conn) openLane(ctx context.Context) (*outLane, error) {
	st, err := c.sess.Open(ctx)
	if err != nil {
		c.lanes.slots <- struct{}{}
		if errors.Is(err, transport.ErrGoAway) {
			return nil, fmt.Errorf("%w: the peer is going away: %w", ErrShutdown, err)
		}
		return nil, c.transportError(err)
	}
	// The preface goes out at once, so the peer knows the lane even before
	// its first message (Shutdown relies on it: no lane can be opened after
	// GOAWAY).
	if _, err := st.Write([]byte{lanePreface}); err != nil {
		st.Reset()
		c.lanes.slots <- struct{}{}
		return nil, c.transportError(err)
	}
	l := &outLane{st: st, buf: make([]byte, 0, 512)}
	l.enc = gob.NewEncoder(l)
	return l, nil
}

// releaseLane returns l to the pool; a broken lane's stream is reset and its
// slot freed.
func (c *Conn) releaseLane(l *outLane) {
	if l.broken {
		l.st.Reset()
		c.lanes.slots <- struct{}{}
		return
	}
	if cap(l.buf) > maxKeptBuffer {
		l.buf = make([]byte, 0, 512)
	}
	l.buf = l.buf[:0]
	l.tail = nil
	c.lanes.ready <- l
}

// send finishes the message being built on l and writes it. A write held up
// by the peer's flow control past ctx's end fails with ctx's error; the lane,
// whose message was cut, is then dropped.
func (c *Conn) send(ctx context.Context, l *outLane) error {
	tail := l.tail
	l.tail = nil
	n := len(l.buf) + len(tail) - lengthSize
	if n > c.opts.maxMessageSize {
		l.broken = true // its gob state may include types the peer never sees
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, c.opts.maxMessageSize)
	}
	binary.BigEndian.PutUint32(l.buf, uint32(n))
	if c.opts.idleTimeout > 0 {
		c.touch()
	}
	if err := c.write(ctx, l, l.buf); err != nil {
		return err
	}
	if len(tail) > 0 {
		return c.write(ctx, l, tail)
	}
	return nil
}

// write writes part of a message on l.
func (c *Conn) write(ctx context.Context, l *outLane, p []byte) error {
	if _, err := l.st.WriteContext(ctx, p); err != nil {
		l.broken = true
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, transport.ErrConnectionLost) {
			return cerr
		}
		return c.transportError(err)
	}
	return nil
}

// encode gob-encodes v on l, containing gob's panics. An error leaves the lane
// broken: its encoder may believe it sent types that the peer never sees.
func (l *outLane) encode(v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gob: %v", p)
		}
		if err != nil {
			l.broken = true
		}
	}()
	return l.enc.Encode(v)
}

// flushLanes waits until no lane is held by a sender, so that every message
// being written has been handed to the transport (whose close flushes it), or
// until ctx or the connection ends.
func (c *Conn) flushLanes(ctx context.Context) {
	var held []*outLane
	defer func() {
		for _, l := range held {
			c.lanes.ready <- l
		}
	}()
	for len(held) < c.lanes.max-len(c.lanes.slots) {
		select {
		case l := <-c.lanes.ready:
			held = append(held, l)
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
	}
}

// openLanes opens a lane in every free slot, so that answers can still be
// sent after GOAWAY forbids new streams.
func (c *Conn) openLanes(ctx context.Context) {
	for {
		select {
		case <-c.lanes.slots:
			l, err := c.openLane(ctx)
			if err != nil {
				return
			}
			c.lanes.ready <- l
		default:
			return
		}
	}
}
