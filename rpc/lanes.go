package rpc

import (
	"context"
	"encoding/binary"
	"encoding/gob"
	"fmt"

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
	start  int  // offset of the current message in buf
	broken bool // the encoder's state no longer matches what was sent
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
	l.buf = l.buf[:l.start]
	l.buf = append(l.buf, 0, 0, 0, 0, typ)
}

// laneSet is the pool of a connection's outgoing lanes. free holds one entry
// per lane slot: a lane ready for use, or nil for a slot with no lane yet (or
// whose lane broke), which the taker fills by opening a stream.
type laneSet struct {
	free chan *outLane
}

func (s *laneSet) init(max int) {
	s.free = make(chan *outLane, max)
	for range max {
		s.free <- nil
	}
}

// acquireLane takes a lane, opening a stream for an empty slot.
func (c *Conn) acquireLane(ctx context.Context) (*outLane, error) {
	var l *outLane
	select {
	case l = <-c.lanes.free:
	default:
		select {
		case l = <-c.lanes.free:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.err
		}
	}
	if l != nil {
		return l, nil
	}
	st, err := c.sess.Open(ctx)
	if err != nil {
		c.lanes.free <- nil
		return nil, c.transportError(err)
	}
	l = &outLane{st: st, buf: make([]byte, 1, 512), start: 1}
	l.buf[0] = lanePreface
	l.enc = gob.NewEncoder(l)
	return l, nil
}

// releaseLane returns l to the pool; a broken lane's stream is reset and its
// slot emptied.
func (c *Conn) releaseLane(l *outLane) {
	if l.broken {
		l.st.Reset()
		c.lanes.free <- nil
		return
	}
	if cap(l.buf) > maxKeptBuffer {
		l.buf = make([]byte, 0, 512)
	}
	l.buf = l.buf[:0]
	l.start = 0
	c.lanes.free <- l
}

// send finishes the message being built on l and writes it.
func (c *Conn) send(l *outLane) error {
	msg := l.buf[l.start:]
	n := len(msg) - lengthSize
	if n > c.opts.maxMessageSize {
		l.broken = true // its gob state may include types the peer never sees
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, c.opts.maxMessageSize)
	}
	binary.BigEndian.PutUint32(msg, uint32(n))
	if _, err := l.st.Write(l.buf); err != nil {
		l.broken = true
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
