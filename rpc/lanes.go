package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/rpc/internal/wire"
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
	st *transport.Stream
	// buf holds the message being built, after laneHeadroom bytes left for
	// the transport's frame header (see Conn.write).
	buf    []byte
	tail   []byte       // a large byte slice that ends the message, written as is
	broken bool         // the encoder's state no longer matches what was sent
	coder  wire.Encoder // encodes values into buf, with the lane's gob encoder
	args   []outArg     // the arguments of the call being written (Conn.writeCall)
}

// maxKeptBuffer is the largest message buffer a lane keeps between messages.
const maxKeptBuffer = 256 << 10

// laneHeadroom is the room a lane's buffer keeps ahead of its message, for
// the transport to put a frame header in when it writes a lone message
// straight from the buffer (transport.Stream.WriteInlineHeaded).
const laneHeadroom = transport.Headroom

// begin starts a message of type typ: the headroom, the length prefix (set
// by send) and the type.
func (l *outLane) begin(typ byte) {
	const n = laneHeadroom + lengthSize + 1
	if cap(l.buf) < n {
		l.buf = make([]byte, n, 2*n)
	}
	// The headroom and the length prefix are written over before the
	// message is sent.
	l.buf = l.buf[:n]
	l.buf[n-1] = typ
}

// next starts a message of type typ after those on l already, or as its
// first (begin) when first; it returns where the message's length prefix
// is, for seal.
func (l *outLane) next(typ byte, first bool) int {
	if first {
		l.begin(typ)
		return laneHeadroom
	}
	at := len(l.buf)
	l.buf = binary.BigEndian.AppendUint32(l.buf, 0) // set by seal
	l.buf = append(l.buf, typ)
	return at
}

// seal sets the length prefix at at of the message that ends l.buf, and
// returns that length.
func (l *outLane) seal(at int) int {
	n := len(l.buf) - at - lengthSize
	binary.BigEndian.PutUint32(l.buf[at:], uint32(n))
	return n
}

// laneSet is the pool of a connection's outgoing lanes. The open lanes no
// sender holds are in last and idle while nobody waits for one, and in ready
// while somebody does (waiters > 0), so that taking and giving back a lane
// costs no channel operation while lanes are to spare, and a waiter is
// woken by the channel it waits on. last holds the lane given back last,
// when it was free: the common case, a sender taking the lane the sender
// before it gave back, is one atomic swap each way and takes no lock. slots
// holds one token per lane that may still be opened (a broken lane gives its
// token back). Senders prefer an open lane and open a new one only when
// every open lane is busy, so a connection uses as few lanes as its
// concurrency needs.
//
// A sender that becomes a waiter counts itself (nwait) before it looks in
// last once more, and a lane put in last is taken back out when a waiter is
// counted after it: so either the waiter finds the lane, or the lane goes to
// ready.
type laneSet struct {
	last    atomic.Pointer[outLane]
	mu      sync.Mutex
	idle    []*outLane   // guarded by mu
	waiters int          // senders (and closeLanes) past idle, waiting on ready; guarded by mu
	nwait   atomic.Int32 // waiters, read without mu

	ready chan *outLane
	slots chan struct{}
	max   int
	shut  chan struct{} // closed once the lanes are closed for good (after GOAWAY)

	budget answerBudget

	// The peer's lanes: how many were accepted, and how many of them ended.
	inOpened atomic.Int32
	inEnded  atomic.Int32
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
	s.shut = make(chan struct{})
	for range max {
		s.slots <- struct{}{}
	}
}

// acquireLane takes an open lane, or opens one when all are busy and a slot
// is free, or waits for one.
func (c *Conn) acquireLane(ctx context.Context) (*outLane, error) {
	if l := c.lanes.takeIdle(); l != nil {
		return l, nil
	}
	return c.awaitLane(ctx)
}

// awaitLane is acquireLane with no idle lane at hand. It is a function of
// its own so that its selects' frame is not on every call's path.
//
//go:noinline
func (c *Conn) awaitLane(ctx context.Context) (*outLane, error) {
	defer c.lanes.doneWaiting()
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
	case <-c.lanes.shut:
		return nil, errLanesClosed
	}
}

// errLanesClosed is what a sender gets once this side closed its lanes
// after GOAWAY: it has nothing more to send.
var errLanesClosed = fmt.Errorf("%w: the connection is going away", ErrShutdown)

// callLane is acquireLane for a new call. Once GOAWAY has gone either way no
// new call is made, except by a handler of this connection on the caller's
// behalf (a callback within a call in progress): GOAWAY stops new calls,
// never the answers to calls already made.
func (c *Conn) callLane(ctx context.Context) (*outLane, error) {
	if c.refusesCalls(ctx) {
		return nil, errLanesClosed
	}
	return c.acquireLane(ctx)
}

// refusesCalls reports whether GOAWAY forbids a new call made with ctx:
// GOAWAY has gone either way, and ctx is not a handler's of this connection.
func (c *Conn) refusesCalls(ctx context.Context) bool {
	select {
	case <-c.goingAway:
		return ctx.Value(connKey{}) != c
	default:
		return false
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
	l.coder.Init(&l.buf)
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
	c.lanes.put(l)
}

// takeIdle takes an idle lane; when there is none it returns nil, and the
// caller counts as a waiter until it calls doneWaiting, so that every lane
// given back meanwhile goes to ready, where the caller looks.
func (s *laneSet) takeIdle() *outLane {
	if l := s.last.Swap(nil); l != nil {
		return l
	}
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		l := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return l
	}
	s.waiters++
	s.nwait.Add(1)
	s.mu.Unlock()
	// A lane put in last before the count was seen is the caller's.
	if l := s.last.Swap(nil); l != nil {
		s.doneWaiting()
		return l
	}
	return nil
}

// takeAllIdle takes every idle lane; the caller counts as a waiter until
// it calls doneWaiting, as after takeIdle.
func (s *laneSet) takeAllIdle() []*outLane {
	s.mu.Lock()
	held := s.idle
	s.idle = nil
	s.waiters++
	s.nwait.Add(1)
	s.mu.Unlock()
	if l := s.last.Swap(nil); l != nil {
		held = append(held, l)
	}
	return held
}

// doneWaiting ends a wait that takeIdle or takeAllIdle began.
func (s *laneSet) doneWaiting() {
	s.mu.Lock()
	s.waiters--
	s.nwait.Add(-1)
	s.mu.Unlock()
}

// put gives back an open lane: to idle, or to ready when somebody waits.
func (s *laneSet) put(l *outLane) {
	if s.nwait.Load() == 0 && s.last.CompareAndSwap(nil, l) {
		if s.nwait.Load() == 0 {
			return
		}
		// A sender began to wait meanwhile: what is still in last goes
		// to ready (nothing, when the waiter took it).
		if l = s.last.Swap(nil); l == nil {
			return
		}
	}
	s.mu.Lock()
	if s.waiters == 0 {
		s.idle = append(s.idle, l)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.ready <- l // never blocks: ready has room for every lane
}

// send finishes the message being built on l and writes it. A write held up
// by the peer's flow control past ctx's end fails with ctx's error; the lane,
// whose message was cut, is then dropped.
func (c *Conn) send(ctx context.Context, l *outLane) error {
	tail := l.tail
	l.tail = nil
	n := len(l.buf) - laneHeadroom + len(tail) - lengthSize
	if n > c.opts.maxMessageSize {
		l.broken = true // its gob state may include types the peer never sees
		return tooLarge(n, c.opts.maxMessageSize)
	}
	binary.BigEndian.PutUint32(l.buf[laneHeadroom:], uint32(n))
	if c.opts.idleTimeout > 0 {
		c.touch()
	}
	if err := c.write(ctx, l, l.buf, true); err != nil {
		return err
	}
	if len(tail) > 0 {
		if err := c.write(ctx, l, tail, false); err != nil {
			return err
		}
	}
	return nil
}

// tooLarge is the error of a message of n bytes over the limit. It is a
// function of its own so that its formatting's frame is not on every send's
// path.
//
//go:noinline
func tooLarge(n, limit int) error {
	return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, limit)
}

// write writes part of a message on l: p, or p after laneHeadroom bytes of
// room when headed. A lone message (no other call in flight either way) is
// written by its sender, with no goroutine woken, and from p itself when it
// is headed; otherwise the transport's writer goroutine gathers it with the
// others.
func (c *Conn) write(ctx context.Context, l *outLane, p []byte, headed bool) error {
	var err error
	switch {
	case !c.alone():
		if headed {
			p = p[laneHeadroom:]
		}
		_, err = l.st.WriteContext(ctx, p)
	case headed:
		_, err = l.st.WriteInlineHeaded(ctx, p)
	default:
		_, err = l.st.WriteInline(ctx, p)
	}
	if err != nil {
		l.broken = true
		return c.writeError(ctx, err)
	}
	return nil
}

// writeError is the error of a lane's failed write: ctx's when it ended the
// write, else the transport's. It is a function of its own so that its
// frame is not on every write's path.
//
//go:noinline
func (c *Conn) writeError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, transport.ErrConnectionLost) {
		return cerr
	}
	return c.transportError(err)
}

// alone reports whether at most two calls are in flight either way, the one
// whose message is being sent (a call of this side's, or the answer to the
// peer's) included: a lone call, or a callback and the call it serves. More
// senders than that gather their messages in the writer goroutine's batches.
func (c *Conn) alone() bool {
	return int(c.answers.running.Load())+c.questions.len() <= 2
}

// openLanes opens a lane in every free slot, so that answers can still be
// sent after this side's GOAWAY forbids it new streams.
func (c *Conn) openLanes(ctx context.Context) {
	for {
		select {
		case <-c.lanes.slots:
			l, err := c.openLane(ctx)
			if err != nil {
				return
			}
			c.lanes.put(l)
		default:
			return
		}
	}
}

// goAwayPoll is how often a connection going away looks whether it has
// anything left to send.
const goAwayPoll = 5 * time.Millisecond

// finishAfterGoAway runs once GOAWAY has gone either way: when this side has
// nothing more to send, it closes its lanes (FIN), which tells the peer that
// no call and no answer will follow; once both sides did, the transport
// session has no stream left and closes (see docs/PROTOCOL.md, Closing). The
// side that sent GOAWAY first waits for the peer to close all its lanes, so
// that it still answers every call the peer made before it learned of the
// GOAWAY.
func (c *Conn) finishAfterGoAway() {
	close(c.goingAway)
	select {
	case <-c.answers.whenIdle():
	case <-c.done:
		return
	}
	t := time.NewTicker(goAwayPoll)
	defer t.Stop()
	for !c.nothingToSend() {
		select {
		case <-t.C:
		case <-c.done:
			return
		}
	}
	c.closeLanes()
}

// nothingToSend reports whether this side, going away, has nothing more to
// send: no handler running, no call of its own waiting for an answer, no
// control message queued, and, when it sent GOAWAY, the peer closed every
// lane it opened (and at least one).
func (c *Conn) nothingToSend() bool {
	if c.answers.running.Load() != 0 || c.questions.len() != 0 || c.ctl.pending() {
		return false
	}
	if c.sess.GoAwaySent() && !(c.sess.IsClient() && c.sess.GoAwayReceived()) {
		n := c.lanes.inOpened.Load()
		return n > 0 && c.lanes.inEnded.Load() == n
	}
	return true
}

// closeLanes takes every lane for good, once no sender holds one, and closes
// each (FIN); a side that never opened a lane opens one to close it, so that
// the peer learns it is done. Senders that come later get ErrShutdown.
func (c *Conn) closeLanes() {
	held := c.lanes.takeAllIdle()
	defer c.lanes.doneWaiting()
	opened := func() int { return c.lanes.max - len(c.lanes.slots) }
	for len(held) < opened() {
		select {
		case l := <-c.lanes.ready:
			held = append(held, l)
		case <-c.done:
			return
		}
	}
	if len(held) == 0 {
		select {
		case <-c.lanes.slots:
			if l, err := c.openLane(context.Background()); err == nil {
				held = append(held, l)
			}
		default:
		}
	}
	for {
		select {
		case <-c.lanes.slots:
			continue
		default:
		}
		break
	}
	close(c.lanes.shut)
	for _, l := range held {
		l.st.CloseWrite()
	}
}
