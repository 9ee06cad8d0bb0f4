package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"github.com/fireflyrpc/firefly/registry"
	"io"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/fireflyrpc/firefly/rpc/internal/wire"
	"github.com/fireflyrpc/firefly/transport"
)

// inLane is the receiving end of a lane. The transport offers it each small
// payload on its reader goroutine (receive), or tells it when data was queued
// (notify), and whole messages of at most maxInlineMessage bytes are parsed
// right there, where the payload lies in the session's read buffer when the
// lane is idle, with no goroutine woken for them: an answer completes its
// call and a call goes to a handler goroutine straight from the reader.
// Larger messages are read by the lane's own goroutine, started for them, as
// they stream in. One owner at a time parses
// a lane, in order, with the lane's gob decoder. Parsing never waits for a
// lane and never runs a handler.
type inLane struct {
	c    *Conn
	st   *transport.Stream
	dec  *gob.Decoder
	mr   msgReader     // the message being parsed
	wake chan struct{} // hands the lane to its goroutine

	mu      sync.Mutex
	busy    bool // an owner is parsing, or the lane's goroutine was asked to
	pending bool // notified while busy: look again before letting go
	running bool // the lane's goroutine exists
	dead    bool // the lane ended: nothing more is parsed

	// Used by the owner only.
	started  bool    // the preface was read
	onReader bool    // the owner is the transport's reader (see drain)
	inPlace  bool    // buf is a payload in the session's read buffer (see receive)
	buf      []byte  // bytes taken from the stream, not yet parsed: buf[r:w]; nil while there are none
	bufp     *[]byte // where buf came from in laneBuffers (nil: allocated)
	r, w     int
	big      *bufio.Reader // reads a large message from the stream
	limit    io.LimitedReader

	// The answer budget (see budget.go): charged is set when the call at
	// the head of the lane has been charged; the others, guarded by the
	// budget's lock (or set by the lane's owner, charging, while no lane
	// waits), say what the lane asked for and whether it waits.
	charged    atomic.Bool
	waitN      int
	waitOneWay bool
	waiting    bool
	// callCharge is the charge of the call being parsed, until readCall
	// hands it on with the call (to its handler, or to its refusal).
	callCharge int
	// slot is set while the lane holds a one-way handler slot for the call
	// at its head; slotWaiting (guarded by the answer table's lock) while it
	// waits for one (see answerTable.reserveOneWay).
	slot        atomic.Bool
	slotWaiting bool

	scratch []byte
	method  string // the last method name called on the lane
	// The registry object the last call was for and its method of that
	// name: a lane mostly calls the same method of the same object again.
	// (Other dispatchers are asked on every call, as Abandoner promises.)
	lastObj    *registry.Object
	lastMethod *registry.Method
	kinds      []argKind
	records    wire.Targets
	flat       wire.TypeMemo[bool] // types known to hold no pointers (or not)
	gobErr     error               // the last gob decoding error of the message
}

// maxInlineMessage is the largest message parsed on the transport's reader
// goroutine; larger ones are read by a goroutine as they arrive, so that the
// reader never holds a whole large message or stalls other lanes decoding it.
const maxInlineMessage = 64 << 10

// laneReadBuffer is the first size of a lane's buffer of bytes taken from the
// stream (it grows to hold a whole inline message) and the size of the
// reader of large messages.
const laneReadBuffer = 16 << 10

// acceptLanes has the session hand every lane the peer opens to readLane, on
// its reader goroutine, and end the connection when it ends: no goroutine
// waits for either.
func (c *Conn) acceptLanes() {
	c.sess.AfterClose(c.sessionEnded)
	c.sess.SetAcceptFunc(c.readLane)
}

// sessionEnded ends the connection after its session, once the lanes'
// goroutines delivered what the peer sent before it went (they end once
// their buffered data is read), so that answers already here are not failed
// as lost. Messages parsed on the session's reader are delivered already.
func (c *Conn) sessionEnded(err error) {
	c.rmu.Lock()
	c.draining = true
	c.rmu.Unlock()
	c.readers.Wait()
	c.shutdown(err)
}

// readLane starts reading a lane the peer opened.
func (c *Conn) readLane(st *transport.Stream) {
	in := &inLane{c: c, st: st, wake: make(chan struct{}, 1)}
	in.dec = gob.NewDecoder(&in.mr.Reader)
	c.lanes.inOpened.Add(1)
	st.SetReadNotify(in.notifyOnReader)
	st.SetReceiveFunc(in.receive)
	// What arrived before the registration; readLane may run on the
	// goroutine that set the accept function, not on the reader.
	in.notify(true)
}

// receive is the lane's transport receive function: when the lane is idle
// with nothing taken from the stream, it parses the whole messages at the
// head of p, a frame's payload in the session's read buffer, where they lie,
// and reports how many bytes they took. The rest (a message not whole yet,
// a large one, one waiting for the answer budget or a handler slot) is
// queued by the transport, and notify parses it as usual.
func (in *inLane) receive(p []byte) int {
	in.mu.Lock()
	if in.busy || in.dead {
		in.mu.Unlock()
		return 0
	}
	in.busy = true
	in.mu.Unlock()
	used := 0
	if in.r == in.w { // no part of a message taken before: p comes first
		in.releaseBuffer()
		in.buf, in.r, in.w = p, 0, len(p)
		in.inPlace, in.onReader = true, true
		_, err := in.parseTaken(false)
		in.onReader = false
		used = in.r
		in.buf, in.r, in.w = nil, 0, 0
		in.inPlace = false
		if err != nil {
			in.end(err)
			return len(p) // nothing more is parsed
		}
	}
	in.letGo()
	return used
}

// notify is called when data arrives: it parses what is whole, unless an
// owner is already at it (which then looks again before letting go). Whether
// the reader has more input in hand does not matter: a small message costs
// less parsed here than handed to a goroutine.
func (in *inLane) notify(bool) { in.poke(false) }

// notifyOnReader is notify as the transport's reader calls it: the calls it
// parses may run on the reader's goroutine (transport.Session.Inline).
func (in *inLane) notifyOnReader(bool) { in.poke(true) }

// poke parses what is whole, on the transport's reader when onReader is
// set, unless an owner is already at it.
func (in *inLane) poke(onReader bool) {
	in.mu.Lock()
	if in.busy {
		in.pending = true
		in.mu.Unlock()
		return
	}
	in.busy = true
	in.mu.Unlock()
	in.drain(false, onReader)
}

// drain parses messages until none is whole and then lets the lane go, or
// hands it to the lane's goroutine (a large message, when not on it), or
// ends it on an error. The caller owns the lane; blocking tells whether it
// may wait for the stream (the lane's goroutine may), and onReader whether
// the caller is the transport's reader.
func (in *inLane) drain(blocking, onReader bool) {
	for {
		in.onReader = onReader
		handed, err := in.parseBuffered(blocking)
		in.onReader = false
		if err != nil {
			in.end(err)
			return
		}
		if handed {
			in.handOff()
			return
		}
		if !in.release() {
			return
		}
	}
}

// release lets the lane go, owned by the caller, and reports false; or,
// when it was notified meanwhile, keeps it and reports true: the caller
// looks again.
func (in *inLane) release() (again bool) {
	in.mu.Lock()
	again = in.pending
	in.busy = again
	in.pending = false
	in.mu.Unlock()
	return again
}

// letGo releases the lane, owned by the caller, draining it first when it
// was notified meanwhile.
func (in *inLane) letGo() {
	if in.release() {
		in.drain(false, true)
	}
}

// handOff passes the lane, owned by the caller, to its goroutine, starting it
// if need be; when the connection is ending, the lane is ended instead.
func (in *inLane) handOff() {
	in.mu.Lock()
	start := !in.running
	in.running = true
	in.mu.Unlock()
	if start {
		c := in.c
		c.rmu.Lock()
		if c.draining {
			c.rmu.Unlock()
			in.end(transport.ErrSessionClosed)
			return
		}
		c.readers.Add(1)
		c.rmu.Unlock()
		go in.run()
	}
	in.wake <- struct{}{} // cannot block: only the owner sends, once
}

// run is the lane's goroutine: it parses when handed the lane, until the
// lane or the connection ends.
func (in *inLane) run() {
	defer in.c.readers.Done()
	for {
		select {
		case <-in.wake:
		case <-in.c.sess.Done():
			// Messages already buffered are still delivered (replies that
			// arrived before the end are not failed as lost).
			select {
			case <-in.wake:
				in.drain(true, false)
			default:
			}
			return
		}
		in.drain(true, false)
		in.mu.Lock()
		dead := in.dead
		in.mu.Unlock()
		if dead {
			return
		}
	}
}

// end closes the lane after err: the peer closed or reset it, or the session
// failed (acceptLanes ends the connection), or the peer broke the protocol
// (the connection is closed). The lane stays busy: nothing more is parsed.
func (in *inLane) end(err error) {
	in.mu.Lock()
	was := in.dead
	in.dead = true
	in.mu.Unlock()
	if !was {
		in.c.lanes.inEnded.Add(1)
		in.dropCharge()
		in.c.answers.forgetOneWay(in)
	}
	if errors.Is(err, ErrProtocol) {
		in.c.shutdown(err)
		return
	}
	in.st.Close()
}

// takeCharge takes the charge of the call about to be parsed for the parse:
// readCall hands it on with the call, and endCharge returns it if nothing
// took it.
func (in *inLane) takeCharge() {
	if in.charged.Swap(false) {
		in.callCharge = in.waitN
	}
}

// endCharge returns a call's charge that nothing took.
func (in *inLane) endCharge() {
	if n := in.callCharge; n > 0 {
		in.callCharge = 0
		in.c.lanes.budget.releaseBytes(n)
	}
}

// dropCharge returns the budget charged, or about to be granted, for a call
// the ended lane will never parse.
func (in *inLane) dropCharge() {
	b := &in.c.lanes.budget
	if b.forget(in) {
		b.releaseBytes(in.waitN)
	}
}

// parseBuffered parses every whole message that has arrived (and, when
// blocking, reads large messages as they arrive). It reports handed when a
// large message must go to the lane's goroutine. Bytes are taken from the
// stream a buffer at a time, not a message at a time.
func (in *inLane) parseBuffered(blocking bool) (handed bool, err error) {
	for {
		handed, err := in.parseTaken(blocking)
		if handed || err != nil {
			return handed, err
		}
		if in.r == in.w {
			in.r, in.w = 0, 0
		} else if in.r > 0 {
			in.w = copy(in.buf, in.buf[in.r:in.w])
			in.r = 0
		}
		if in.buf == nil {
			in.bufp = laneBuffers.Get().(*[]byte)
			in.buf = *in.bufp
		}
		n, err := in.st.TryRead(in.buf[in.w:])
		in.w += n
		if n > 0 {
			continue
		}
		switch {
		case err == nil:
			if in.w == 0 {
				in.releaseBuffer()
			}
			return false, nil // nothing more yet
		case in.w == 0:
			return false, err // the lane ended between messages
		case errors.Is(err, io.EOF):
			return false, protocolErrorf("lane closed inside a message")
		}
		return false, err
	}
}

// laneBuffers holds the read buffers of lanes with nothing left to parse, so
// that an idle lane keeps none.
var laneBuffers = sync.Pool{New: func() any {
	b := make([]byte, laneReadBuffer)
	return &b
}}

// releaseBuffer gives the lane's read buffer, empty, back to laneBuffers (one
// grown for a larger message is left to the garbage collector).
func (in *inLane) releaseBuffer() {
	if len(in.buf) == laneReadBuffer && in.bufp != nil {
		*in.bufp = in.buf
		laneBuffers.Put(in.bufp)
	}
	in.buf, in.bufp = nil, nil
	in.r, in.w = 0, 0
}

// parseTaken parses the whole messages among the bytes taken from the stream,
// making room for the next one if it is larger than the buffer.
func (in *inLane) parseTaken(blocking bool) (handed bool, err error) {
	for {
		data := in.buf[in.r:in.w]
		if !in.started {
			if len(data) == 0 {
				return false, nil
			}
			if data[0] != lanePreface {
				return false, protocolErrorf("stream does not start with the lane preface (got %#x)", data[0])
			}
			in.r++
			in.started = true
			continue
		}
		if len(data) < lengthSize {
			return false, nil
		}
		n := binary.BigEndian.Uint32(data)
		if int64(n) > int64(in.c.opts.maxMessageSize) {
			return false, fmt.Errorf("%w: %w", protocolErrorf("message of %d bytes over the limit of %d", n, in.c.opts.maxMessageSize), ErrMessageTooLarge)
		}
		if n == 0 {
			return false, protocolErrorf("empty message")
		}
		if !in.charged.Load() {
			call, oneWay, more := callHeader(data[lengthSize:])
			if more && len(data)-lengthSize < int(n) {
				return false, nil
			}
			if call {
				if !in.c.lanes.budget.charge(in, oneWay, lengthSize+int(n)) {
					return false, nil // granted later: the lane is notified
				}
			}
		}
		if in.charged.Load() && in.waitOneWay && !in.slot.Load() {
			if !in.c.answers.reserveOneWay(in, in.c.opts.maxHandlers) {
				return false, nil // handed a slot later: the lane is notified
			}
		}
		if n > maxInlineMessage {
			if in.inPlace {
				return false, nil // left to the transport's queue
			}
			if !blocking {
				return true, nil
			}
			in.r += lengthSize
			in.takeCharge()
			err := in.readLarge(int(n))
			in.endCharge()
			if err != nil {
				return false, err
			}
			continue
		}
		size := lengthSize + int(n)
		if len(data) < size {
			if size > len(in.buf) && !in.inPlace {
				// Make room for the whole message.
				b := make([]byte, max(size, min(2*len(in.buf), lengthSize+maxInlineMessage)))
				in.w = copy(b, data)
				in.r = 0
				if in.bufp != nil {
					laneBuffers.Put(in.bufp) // *in.bufp is the old buffer
					in.bufp = nil
				}
				in.buf = b
			}
			return false, nil
		}
		// The message is read where it lies in in.buf, which the owner
		// writes only between messages.
		in.mr.ResetBytes(data[lengthSize:size])
		in.r += size
		in.takeCharge()
		err := in.message()
		in.endCharge()
		if err != nil {
			return false, in.wireError(err, false)
		}
	}
}

// readLarge reads and handles a message of n bytes straight from the stream.
func (in *inLane) readLarge(n int) error {
	// Its first bytes may be among those taken already (never more than
	// the message: the buffer is smaller than a large message).
	var src io.Reader = in.st
	if in.r < in.w {
		src = io.MultiReader(bytes.NewReader(in.buf[in.r:in.w]), in.st)
	}
	in.r, in.w = 0, 0
	in.limit = io.LimitedReader{R: src, N: int64(n)}
	if in.big == nil {
		in.big = bufio.NewReaderSize(&in.limit, laneReadBuffer)
	} else {
		in.big.Reset(&in.limit)
	}
	in.mr.Reset(in.big, n)
	if err := in.message(); err != nil {
		return in.wireError(err, true)
	}
	return nil
}

// message parses the message in in.mr and checks that all of it was used.
// A panic while parsing (a defect met on a peer's bytes) is a protocol
// violation: where it struck in the message is unknown, so the lane's
// decoder can no longer be trusted to be in step with the peer.
func (in *inLane) message() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = protocolErrorf("panic parsing a message: %v", p)
		}
	}()
	if in.c.opts.idleTimeout > 0 {
		in.c.touch()
	}
	in.gobErr = nil
	typ, err := in.mr.ReadByte()
	if err != nil {
		return err
	}
	switch typ {
	case msgCall:
		err = in.readCall()
	case msgReply:
		err = in.readReply()
	case msgError:
		err = in.readError()
	case msgCancel:
		err = in.readCancel()
	case msgRelease:
		err = in.readRelease()
	case msgSettings:
		err = in.readSettings()
	default:
		return protocolErrorf("unknown message type %d", typ)
	}
	if err != nil {
		return err
	}
	if in.mr.Len() != 0 {
		if in.gobErr != nil {
			return protocolErrorf("%d stray bytes after a message of type %d, whose gob decoding failed: %v", in.mr.Len(), typ, in.gobErr)
		}
		return protocolErrorf("%d stray bytes after a message of type %d", in.mr.Len(), typ)
	}
	return nil
}

// decodeGob decodes the next gob value of the message into v (invalid: read
// and drop it). A panic inside gob, which it raises on some inputs that are
// well-formed gob (a field promoted through a nil embedded pointer, say), is
// returned as an error of that value: gob reads each of its messages whole
// before it interprets it and discards what a failed decoding left in its
// buffer, so the lane stays in step with the peer's encoder. Should the panic
// strike inside a type definition, the values that follow it fail to decode
// or are left over in the message, which ends the lane as a protocol
// violation.
func (in *inLane) decodeGob(v reflect.Value) error {
	err := wire.ContainGob("decoding", in.dec.DecodeValue, v)
	if err != nil {
		in.gobErr = err
	}
	return err
}

// wireError classifies an error met while parsing a message: a message
// that ends too soon is the peer's fault, unless it was being read from the
// stream (streamed) and the stream failed under it; other errors of the
// stream pass through; anything else is the peer's fault.
func (in *inLane) wireError(err error, streamed bool) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if streamed {
			if _, end := in.st.Buffered(); end != nil && !errors.Is(end, io.EOF) {
				return end
			}
		}
		return protocolErrorf("truncated message")
	}
	if errors.Is(err, ErrProtocol) {
		return err
	}
	var tpe *transport.StreamResetError
	if errors.As(err, &tpe) || errors.Is(err, transport.ErrConnectionLost) || errors.Is(err, transport.ErrSessionClosed) {
		return err
	}
	return protocolErrorf("%v", err)
}
