package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// readLoop is the session's only reader. It never blocks on application
// code: payload is copied into stream buffers that the windows bound, and
// answers are queued for the writer.
func (s *Session) readLoop() { s.readOn(nil) }

// readOn is the background reader's goroutine, from the session's start or
// from when it took the role over from a goroutine running an Inliner, with
// that goroutine's read error, if any, to handle.
func (s *Session) readOn(err error) {
	s.role.done = nil
	for err == nil {
		err = s.readFrames()
		if err == errTaken {
			return // another goroutine reads now
		}
		if err == errYielded {
			err = s.reclaim()
		}
	}
	defer close(s.readDone)
	if s.isDone() {
		return
	}
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		s.protocolError(err)
		// Read on, discarding, while the writer flushes what was queued and
		// the GOAWAY: closing a socket with unread input makes the kernel
		// reset the connection and drop what it had not sent yet. This ends
		// when the peer closes its side, or when the writer closes the
		// connection (finalFlushTimeout after its last write).
		io.Copy(io.Discard, s.br)
	case errors.Is(err, ErrConnectionLost):
		s.shutdown(err, false)
	case s.peerWentAway():
		// After the peer's NORMAL GOAWAY, the connection's end (EOF, or a
		// reset) is the graceful close it announced.
		s.mu.Lock()
		why := s.goAwayWhy
		s.mu.Unlock()
		s.shutdown(fmt.Errorf("%w: %w: peer closed the connection after a NORMAL GOAWAY: %q", ErrConnectionLost, ErrGoAway, why), false)
	case errors.Is(err, io.EOF):
		s.shutdown(fmt.Errorf("%w: peer closed the connection", ErrConnectionLost), false)
	default:
		s.shutdown(fmt.Errorf("%w: read: %w", ErrConnectionLost, err), false)
	}
}

// peerWentAway reports whether the peer sent a NORMAL GOAWAY.
func (s *Session) peerWentAway() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goAwayRecv
}

// yieldFrames is how many frames one read must have brought for the reader to
// yield before its next read (see readFrames).
const yieldFrames = 4

func (s *Session) readFrames() error {
	frames := 0
	for {
		if s.br.Buffered() == 0 {
			if s.yieldRole() {
				return errYielded
			}
			s.resizeReadBuffer()
			// The next read goes to the network. Under load (several
			// frames came in the last read) and with parsing handed to
			// goroutines, let those run first: the calls and answers they
			// produce then reach the writer, and the next read, together.
			// A lone frame gets no yield: that would only add latency.
			if s.handedOff && frames >= yieldFrames {
				runtime.Gosched()
			}
			s.handedOff = false
			frames = 0
		}
		frames++
		if err := s.readFrame(); err != nil {
			return err
		}
	}
}

// readFrame reads and handles one frame. Its header is only peeked at until
// it is whole, so that a ReadUntil reader interrupted between frames leaves
// the input as it was.
func (s *Session) readFrame() error {
	r := &s.role
	r.boundary = r.done != nil
	p, err := s.br.Peek(headerLen)
	r.boundary = false
	if err != nil {
		if errors.Is(err, io.EOF) && len(p) > 0 {
			return fmt.Errorf("%w: connection closed inside a frame header", ErrConnectionLost)
		}
		return err
	}
	h := &s.hdr
	copy(h[:], p)
	s.br.Discard(headerLen)
	if !s.recvActive.Load() {
		s.recvActive.Store(true)
	}
	if err := checkHeader(h, s.cfg.MaxFrameSize); err != nil {
		return err
	}
	s.bytesIn.Add(uint64(headerLen) + uint64(h.length()))
	switch h.typ() {
	case typeData:
		err = s.handleData(h)
		if !s.runPending(err) {
			return errTaken
		}
	case typeWindowUpdate:
		err = s.handleWindowUpdate(h)
	case typePing:
		err = s.handlePing(h)
	case typeGoAway:
		err = s.handleGoAway(h)
	}
	return err
}

// payload returns the next n bytes of input without consuming them; they are
// valid until discard.
func (s *Session) payload(n uint32) ([]byte, error) {
	p, err := s.br.Peek(int(n))
	if err != nil {
		return nil, payloadError(err)
	}
	return p, nil
}

// payloadError is the error of a read that ended inside a frame's payload.
func payloadError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: connection closed inside a frame payload", ErrConnectionLost)
	}
	return err
}

func (s *Session) discard(n uint32) { s.br.Discard(int(n)) }

// isPeerID reports whether id has the parity of streams the peer opens.
func (s *Session) isPeerID(id uint32) bool { return (id%2 == 1) != s.client }

// lookup finds the stream a non-SYN frame is for. It returns nil for a stream
// that existed and is finished (late frames are ignored) and an error for one
// that was never opened.
func (s *Session) lookup(id uint32, what string) (*Stream, error) {
	s.mu.Lock()
	if st := s.lastFound; st != nil && st.id == id {
		s.mu.Unlock()
		return st, nil // a connection's frames mostly come for one stream after another
	}
	st, err := s.lookupLocked(id, what)
	s.mu.Unlock()
	return st, err
}

// lookupLocked is lookup past the last stream found. s.mu must be held.
func (s *Session) lookupLocked(id uint32, what string) (*Stream, error) {
	if st := s.streams[id]; st != nil {
		s.lastFound = st
		return st, nil
	}
	if s.isPeerID(id) {
		if id <= s.lastPeerID {
			return nil, nil
		}
	} else if s.nextID == 0 || id < s.nextID {
		return nil, nil
	}
	return nil, protoErrorf("%s for stream %d, which was never opened", what, id)
}

// accept registers a stream the peer opened with SYN and hands it to the
// accept function, or queues it for Accept. It returns nil if the stream is
// refused (the RST is queued).
func (s *Session) accept(id uint32) (*Stream, error) {
	st, f, err := s.acceptLocked(id)
	if f != nil {
		f(st)
	}
	return st, err
}

// acceptLocked is accept's part under s.mu: it returns the accept function
// to hand st to (nil: st is queued for Accept, or refused).
func (s *Session) acceptLocked(id uint32) (*Stream, func(*Stream), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isPeerID(id) {
		return nil, nil, protoErrorf("peer opened stream %d, which has this side's parity", id)
	}
	if id <= s.lastPeerID {
		return nil, nil, protoErrorf("peer opened stream %d, not above its last stream %d", id, s.lastPeerID)
	}
	s.lastPeerID = id
	code := ResetCode(0xffffffff)
	switch {
	case s.err != nil:
		code = ResetGoAway
	case s.numIn >= s.cfg.MaxStreams:
		s.overLimit++
		if s.overLimit > maxLimitRefusals {
			return nil, nil, protoErrorf("peer keeps opening streams beyond the limit of %d", s.cfg.MaxStreams)
		}
		code = ResetRefused
	case s.acceptFn == nil && s.acceptQ.len() >= s.cfg.AcceptBacklog:
		code = ResetRefused
	}
	if code != 0xffffffff {
		if !s.w.queueReset(id, code) {
			return nil, nil, protoErrorf("peer does not read: control queue overflow")
		}
		return nil, nil, nil
	}
	st := newStream(s, id, false)
	s.streams[id] = st
	s.numIn++
	if s.acceptFn != nil {
		return st, s.acceptFn, nil
	}
	s.acceptQ.push(st)
	signal(s.acceptSig)
	return st, nil, nil
}

func (s *Session) handleData(h *header) error {
	id, flags, n := h.streamID(), h.flags(), h.length()
	if flags&flagRST != 0 {
		p, err := s.payload(rstPayloadLen)
		if err != nil {
			return err
		}
		code := ResetCode(binary.BigEndian.Uint32(p))
		s.discard(rstPayloadLen)
		s.mu.Lock()
		st := s.streams[id]
		s.mu.Unlock()
		if st != nil {
			st.abort(&StreamResetError{Code: code, Remote: true})
			s.removeStream(st)
			if notify := st.readNotify(); notify != nil {
				notify(s.br.Buffered() > 0)
			}
		}
		return nil
	}
	var st *Stream
	var err error
	if flags&flagSYN != 0 {
		st, err = s.accept(id)
	} else {
		st, err = s.lookup(id, "DATA")
	}
	if err != nil {
		return err
	}
	if st == nil {
		// A late frame for a finished or refused stream: skipped.
		if _, err := s.br.Discard(int(n)); err != nil {
			return payloadError(err)
		}
		return nil
	}
	if n > 0 {
		s.noteData(st)
	}
	var p []byte
	var own *chunk
	switch {
	case n >= directPayload:
		// A large payload goes straight into the chunk the stream keeps,
		// not through the read buffer and a copy.
		own = s.pools.recv.get()
		if err := s.readPayload(own.buf[:n]); err != nil {
			s.pools.put(own)
			return err
		}
		own.w = int(n)
		p = own.buf[:n]
	case n > 0:
		if p, err = s.payload(n); err != nil {
			return err
		}
		if flags&flagFIN == 0 {
			r := &s.role
			r.inFrame, r.rest = true, int(n)
			k := st.offer(p)
			r.inFrame = false
			if k == len(p) {
				s.discard(n) // all of it taken where it lay
				return nil
			}
			p = p[k:]
		}
	}
	notify, err := st.receive(p, own, flags&flagFIN != 0)
	if err != nil {
		return err
	}
	if own == nil {
		s.discard(n)
	}
	if notify != nil {
		more := s.br.Buffered() > 0
		if !more {
			s.handedOff = true
		}
		r := &s.role
		r.inFrame, r.rest = true, 0
		notify(more)
		r.inFrame = false
	}
	return nil
}

// directPayload is the payload size from which a DATA frame is read straight
// into a chunk of its own (see handleData).
const directPayload = 4 << 10

// readPayload reads a frame's payload into p: what the read buffer holds,
// then, when a large part is left, straight from the connection.
func (s *Session) readPayload(p []byte) error {
	for len(p) > 0 {
		var m int
		var err error
		if s.br.Buffered() == 0 && len(p) >= directPayload {
			m, err = s.in.Read(p)
			s.rb.direct += uint64(m)
		} else {
			m, err = s.br.Read(p)
		}
		p = p[m:]
		if err != nil && len(p) > 0 {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: connection closed inside a frame payload", ErrConnectionLost)
			}
			return err
		}
	}
	return nil
}

// receive stores payload from the peer (and its FIN): p, copied, or, with own
// non-nil, p is own's data and own itself is kept. Called by the reader,
// which then calls the notify function it returns, if any.
func (st *Stream) receive(p []byte, own *chunk, fin bool) (notify func(bool), err error) {
	n := uint32(len(p))
	st.rmu.Lock()
	kept := false
	defer func() {
		if own != nil && !kept {
			st.s.pools.put(own)
		}
	}()
	if st.finRecv {
		st.rmu.Unlock()
		return nil, protoErrorf("DATA on stream %d after its FIN", st.id)
	}
	if n > st.rwin {
		st.rmu.Unlock()
		return nil, protoErrorf("stream %d overran its window: %d bytes sent, %d allowed", st.id, n, st.rwin)
	}
	st.rwin -= n
	var grant uint32
	switch {
	case st.rerr != nil:
	case st.readClosed:
		// Nobody will read it: give the credit straight back.
		grant = st.creditLocked(n)
	case own != nil:
		st.rlen += len(p)
		st.rq.push(own)
		kept = true
	default:
		st.rlen += len(p)
		for len(p) > 0 {
			var c *chunk
			if st.rq.len() > 0 {
				if t := st.rq.tail(); t.room() > 0 {
					c = t
				}
			}
			if c == nil {
				if len(p) <= smallChunkSize {
					c = st.s.pools.small.get()
				} else {
					c = st.s.pools.recv.get()
				}
				st.rq.push(c)
			}
			m := copy(c.buf[c.w:], p)
			c.w += m
			p = p[m:]
		}
	}
	if fin {
		st.finRecv = true
	}
	if st.rwaiting && (st.rlen > 0 || fin) {
		st.rwaiting = false
		signal(st.rwake)
	}
	notify = st.notify
	if st.rerr != nil || st.readClosed || (n == 0 && !fin) {
		notify = nil
	}
	st.rmu.Unlock()
	if grant > 0 {
		st.s.w.queueWindowUpdate(st.id, grant)
	}
	if fin {
		st.markFinRecv()
	}
	return notify, nil
}

func (s *Session) handleWindowUpdate(h *header) error {
	p, err := s.payload(windowPayloadLen)
	if err != nil {
		return err
	}
	inc := binary.BigEndian.Uint32(p)
	s.discard(windowPayloadLen)
	if inc == 0 || inc > MaxWindow {
		return protoErrorf("WINDOW_UPDATE of %d on stream %d", inc, h.streamID())
	}
	st, err := s.lookup(h.streamID(), "WINDOW_UPDATE")
	if st == nil || err != nil {
		return err
	}
	w := &s.w
	w.mu.Lock()
	if uint64(st.swin)+uint64(inc) > MaxWindow {
		w.mu.Unlock()
		return protoErrorf("WINDOW_UPDATE overflows the window of stream %d", st.id)
	}
	st.swin += inc
	if st.wwaiting {
		if s.cfg.SendStallTimeout > 0 {
			s.lastCredit.Store(time.Now().UnixNano())
		}
		st.wwaiting = false
		signal(st.wwake)
	}
	w.mu.Unlock()
	return nil
}

func (s *Session) handlePing(h *header) error {
	p, err := s.payload(pingPayloadLen)
	if err != nil {
		return err
	}
	opaque := binary.BigEndian.Uint64(p)
	s.discard(pingPayloadLen)
	if h.flags()&flagACK == 0 {
		if !s.w.queuePing(true, opaque) {
			return protoErrorf("peer does not read: control queue overflow")
		}
		return nil
	}
	s.mu.Lock()
	ch := s.pings[opaque]
	delete(s.pings, opaque)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return nil
}

func (s *Session) handleGoAway(h *header) error {
	n := h.length()
	p, err := s.payload(n)
	if err != nil {
		return err
	}
	last := binary.BigEndian.Uint32(p[0:4])
	code := GoAwayCode(binary.BigEndian.Uint32(p[4:8]))
	reason := string(p[8:n])
	s.discard(n)
	if code != GoAwayNormal {
		return &GoAwayError{Code: code, Reason: reason}
	}
	s.mu.Lock()
	first := !s.goAwayRecv
	s.goAwayRecv = true
	s.goingAwayLocked()
	if first {
		s.goAwayWhy = reason
	}
	idle := len(s.streams) == 0
	s.mu.Unlock()
	if first {
		s.log.Debug("transport: received GOAWAY", "last_stream", last, "remote", s.conn.RemoteAddr())
	}
	if idle {
		s.shutdown(ErrGoAway, true)
	}
	return nil
}
