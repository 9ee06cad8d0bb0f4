package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxLimitRefusals is how many streams opened beyond the advertised
// MaxStreams a peer may have refused before it is a protocol violation.
const maxLimitRefusals = 16

// finalFlushTimeout bounds how long a closing session spends writing its last
// frames (GOAWAY, answers) before it closes the connection, and then how long
// it waits for the peer to close its side (see writer.finish).
const finalFlushTimeout = time.Second

// Session is one multiplexed connection. Either side may open streams; all
// methods are safe for concurrent use.
type Session struct {
	bytesIn  atomic.Uint64 // frame bytes read, headers included
	bytesOut atomic.Uint64 // frame bytes handed to the connection

	conn   net.Conn
	cfg    Config
	log    *slog.Logger
	client bool
	peer   settings      // limits the peer announced
	in     *input        // conn, as the reader reads it (readrole.go)
	br     *bufio.Reader // reads in
	role   readRole      // who reads (readrole.go)
	hdr    header        // the frame header being handled, the role holder's
	rb     readBuffer    // sizes br to the traffic (see resize)
	// handedOff is set by the reader when it called a read notify function
	// with nothing more in hand since its last read from the network.
	handedOff bool
	// The reader's record of interleaved streams (credit.go), written by
	// it on every DATA frame, beside its other fields rather than beside
	// the thresholds that consumers read.
	dataSeq  uint64 // DATA payloads read so far
	mixUntil uint64 // dataSeq until which the connection stays mixed
	pools    pools

	sendLimit    int         // max streams this side may open
	smallSendMax int         // largest payload that goes in a small chunk
	sendFrame    int         // largest DATA payload this side sends
	winThreshold uint32      // consumed bytes that trigger a WINDOW_UPDATE
	mixThreshold uint32      // the same while the connection is mixed (credit.go)
	mixReserve   uint32      // consumed credit a stream keeps back then
	mixed        atomic.Bool // set by the reader: streams interleave (credit.go)

	mu         sync.Mutex
	streams    map[uint32]*Stream
	lastFound  *Stream // the stream lookup found last, while it is in streams
	nextID     uint32  // next id for a stream we open (0 when exhausted)
	lastPeerID uint32  // highest stream id the peer opened
	numOut     int     // open streams we opened
	numIn      int     // open streams the peer opened
	goAwaySent bool
	goAwayRecv bool
	goAwayWhy  string // the reason of the peer's NORMAL GOAWAY
	overLimit  int    // streams refused for exceeding MaxStreams
	pings      map[uint64]chan struct{}
	pingSeq    uint64
	err        error // why the session ended (nil while alive)
	streamErr  error // what blocked stream calls return after the end

	acceptQ   fifo[*Stream] // streams waiting for Accept; guarded by mu
	acceptSig chan struct{} // signalled when acceptQ gains a stream
	acceptFn  func(*Stream) // see SetAcceptFunc
	closeFs   []func(error) // see AfterClose
	goAwayCh  chan struct{} // closed at the first GOAWAY either way
	goAwayFs  []func()      // run at the first GOAWAY either way (see AfterGoAway)
	done      chan struct{}
	ended     atomic.Bool   // set just before done is closed: isDone reads it without a channel operation
	readDone  chan struct{} // closed when readLoop returns
	close1    sync.Once

	w writer

	// Send stall detection (see Config.SendStallTimeout): writes waiting for
	// credit, and when credit last arrived (unix nanoseconds).
	lastCredit   atomic.Int64
	stallMu      sync.Mutex
	stallWaiters int
	stallTimer   *time.Timer

	recvActive atomic.Bool // a frame arrived since the last keepalive tick
	kaMu       sync.Mutex
	kaTimer    *time.Timer
	kaLast     time.Time
	kaPinged   bool
}

func newSession(conn net.Conn, in *input, br *bufio.Reader, cfg Config, peer settings, client bool) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limitUnsent(conn, unsentLimit)
	s := &Session{
		conn:      conn,
		cfg:       cfg,
		log:       log,
		client:    client,
		peer:      peer,
		in:        in,
		br:        br,
		sendLimit: min(cfg.MaxStreams, int(peer.maxStreams)),
		streams:   make(map[uint32]*Stream),
		pings:     make(map[uint64]chan struct{}),
		acceptSig: make(chan struct{}, 1),
		goAwayCh:  make(chan struct{}),
		done:      make(chan struct{}),
		readDone:  make(chan struct{}),
	}
	s.nextID = firstServerStream
	if client {
		s.nextID = firstClientStream
	}
	s.initCredit()
	s.sendFrame = min(int(peer.maxFrame), cfg.MaxFrameSize)
	s.pools.init(s.sendFrame, cfg.MaxFrameSize)
	s.smallSendMax = min(smallChunkSize-headerLen, s.sendFrame)
	s.w.init(s)
	s.role.init()
	in.role = &s.role
	if cfg.KeepAliveInterval > 0 {
		s.kaMu.Lock()
		s.kaLast = time.Now()
		s.kaTimer = time.AfterFunc(s.kaPeriod(), s.keepalive)
		s.kaMu.Unlock()
	}
	go s.readLoop()
	return s
}

// Open opens a new stream. It does not wait for the peer: the stream is
// announced by its first frame (the first Write, CloseWrite, Close or a Read),
// so a one-frame message costs one frame. It fails with ErrStreamLimit when
// too many streams are open, ErrGoAway after this side sent GOAWAY, or the
// session's error once it is over. After the peer's GOAWAY streams may still
// be opened, to finish work already started (the layer above decides what
// that is: the rpc layer sends answers, never new calls).
func (s *Session) Open(ctx context.Context) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	switch {
	case s.err != nil:
		err := s.streamErr
		s.mu.Unlock()
		return nil, err
	case s.goAwaySent:
		s.mu.Unlock()
		return nil, ErrGoAway
	case s.numOut >= s.sendLimit:
		n := s.numOut
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (%d open, limit %d)", ErrStreamLimit, n, s.sendLimit)
	case s.nextID == 0:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: stream ids exhausted", ErrStreamLimit)
	}
	id := s.nextID
	if id >= maxStreamID-1 {
		s.nextID = 0
	} else {
		s.nextID += 2
	}
	st := newStream(s, id, true)
	s.streams[id] = st
	s.numOut++
	// Queue the SYN while holding s.mu so SYNs leave in id order. The
	// writer is not woken: the SYN normally rides on the first Write.
	s.w.mu.Lock()
	st.inRing = true
	s.w.ring.push(st)
	s.w.mu.Unlock()
	s.mu.Unlock()
	return st, nil
}

// Accept waits for the next stream opened by the peer. It fails with ctx's
// error, or the session's error once it is over (ErrGoAway after a graceful
// drain). GOAWAY does not stop it: the peer may open streams after either
// side's GOAWAY to finish its work.
func (s *Session) Accept(ctx context.Context) (*Stream, error) {
	for {
		if st := s.nextAccepted(); st != nil {
			return st, nil
		}
		s.needReader()
		select {
		case <-s.acceptSig:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			if st := s.nextAccepted(); st != nil {
				return st, nil
			}
			return nil, s.sessionErr()
		}
	}
}

// nextAccepted takes the next stream waiting for Accept, if any; when more
// wait, it passes the signal on to another Accept.
func (s *Session) nextAccepted() *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acceptQ.len() == 0 {
		return nil
	}
	st := s.acceptQ.pop()
	if s.acceptQ.len() > 0 {
		signal(s.acceptSig)
	}
	return st
}

// SetAcceptFunc has f called with every stream the peer opens, instead of
// queueing it for Accept: first, on the calling goroutine, with the streams
// waiting for Accept, then on the session's reader goroutine as each new
// stream's first frame arrives, before its data is delivered (so that f can
// SetReadNotify). No goroutine needs to wait in Accept. f must not block.
func (s *Session) SetAcceptFunc(f func(*Stream)) {
	s.mu.Lock()
	s.acceptFn = f
	var waiting []*Stream
	for s.acceptQ.len() > 0 {
		waiting = append(waiting, s.acceptQ.pop())
	}
	s.mu.Unlock()
	for _, st := range waiting {
		f(st)
	}
}

// AfterClose arranges for f to run in its own goroutine, with the error
// blocked stream calls return, once the session is over (at once if it is
// already).
func (s *Session) AfterClose(f func(error)) {
	s.mu.Lock()
	if s.err != nil {
		err := s.streamErr
		s.mu.Unlock()
		go f(err)
		return
	}
	s.closeFs = append(s.closeFs, f)
	s.mu.Unlock()
}

// AfterGoAway arranges for f to run in its own goroutine once GOAWAY has been
// sent or received (at once if it has been already). It does not run when the
// session ends without a GOAWAY of code NORMAL.
func (s *Session) AfterGoAway(f func()) {
	s.mu.Lock()
	if isClosed(s.goAwayCh) {
		s.mu.Unlock()
		go f()
		return
	}
	s.goAwayFs = append(s.goAwayFs, f)
	s.mu.Unlock()
}

// GoAwaySent reports whether this side sent GOAWAY.
func (s *Session) GoAwaySent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goAwaySent
}

// GoAwayReceived reports whether the peer sent GOAWAY (of code NORMAL).
func (s *Session) GoAwayReceived() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goAwayRecv
}

// goingAwayLocked marks the first GOAWAY either way and starts the functions
// waiting for it. s.mu must be held.
func (s *Session) goingAwayLocked() {
	if isClosed(s.goAwayCh) {
		return
	}
	close(s.goAwayCh)
	for _, f := range s.goAwayFs {
		go f()
	}
	s.goAwayFs = nil
}

// GoAway starts a graceful shutdown: it tells the peer, and from now on this
// side opens no new stream (Open fails with ErrGoAway). The peer learns that
// it should start no new work; it may still open streams to finish what it
// started, and they are accepted. Open streams finish normally; once GOAWAY
// has gone either way and no stream is open, the session closes with
// Err() == ErrGoAway.
func (s *Session) GoAway() error {
	s.mu.Lock()
	if s.err != nil {
		err := s.streamErr
		s.mu.Unlock()
		return err
	}
	if s.goAwaySent {
		s.mu.Unlock()
		return nil
	}
	s.goAwaySent = true
	last := s.lastPeerID
	s.goingAwayLocked()
	idle := len(s.streams) == 0
	s.w.queueGoAway(last, GoAwayNormal, "")
	s.mu.Unlock()
	s.log.Debug("transport: sent GOAWAY", "last_stream", last)
	if idle {
		s.shutdown(ErrGoAway, true)
	}
	return nil
}

// Close closes the session at once: the connection is closed and every
// stream's pending and future calls fail with ErrSessionClosed.
func (s *Session) Close() error {
	s.shutdown(ErrSessionClosed, false)
	return nil
}

// CloseWithError closes the session with err as the reason: Err returns err,
// streams fail with an error matching both ErrSessionClosed and err, and the
// peer is sent a GOAWAY frame carrying err's text before the connection
// closes. A nil err is the same as Close.
func (s *Session) CloseWithError(err error) error {
	if err == nil {
		return s.Close()
	}
	s.end(err, true, &finalGoAway{code: GoAwayInternalError, reason: err.Error()})
	return nil
}

// CloseWithViolation closes the session because the peer broke a rule of a
// protocol carried over the session (the rpc layer's, say): it is
// CloseWithError, except that the GOAWAY carries the code PROTOCOL_ERROR.
// A nil err is the same as Close.
func (s *Session) CloseWithViolation(err error) error {
	if err == nil {
		return s.Close()
	}
	s.end(err, true, &finalGoAway{code: GoAwayProtocolError, reason: err.Error()})
	return nil
}

// CloseGracefully closes the session at once as a normal end, not a failure:
// the peer is sent a GOAWAY with code NORMAL carrying reason (unless this side
// sent a GOAWAY already), and its session then ends with an error matching
// both ErrConnectionLost and ErrGoAway. Locally, Err returns an error matching
// ErrSessionClosed.
func (s *Session) CloseGracefully(reason string) error {
	s.mu.Lock()
	sent := s.goAwaySent
	s.goAwaySent = true
	last := s.lastPeerID
	s.mu.Unlock()
	if !sent {
		s.w.queueGoAway(last, GoAwayNormal, reason)
	}
	s.shutdown(fmt.Errorf("%w: %s", ErrSessionClosed, reason), true)
	return nil
}

// Done returns a channel that is closed when the session is over.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it is alive.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// NumStreams returns the number of open streams, both directions, including
// streams waiting in the accept backlog.
func (s *Session) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// MaxOpen returns how many streams this side may have open at once that it
// opened itself: the smaller of its own Config.MaxStreams and the peer's.
func (s *Session) MaxOpen() int { return s.sendLimit }

// LocalAddr returns the underlying connection's local address.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Conn returns the underlying connection (for example to inspect TLS state).
// Reading from or writing to it corrupts the session.
func (s *Session) Conn() net.Conn { return s.conn }

// IsClient reports whether this side ran the handshake as the client.
func (s *Session) IsClient() bool { return s.client }

func (s *Session) lastPeer() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastPeerID
}

// sessionErr returns the error blocked calls report once the session is over.
// Call it only after s.done is closed: streamErr is set before that.
func (s *Session) sessionErr() error { return s.streamErr }

// sendFrameEnd returns how far a send chunk may be filled: a frame's payload
// never exceeds the peer's max frame size.
func (s *Session) sendFrameEnd(c *chunk) int {
	return min(len(c.buf), headerLen+s.sendFrame)
}

// finalGoAway is the GOAWAY with an error code that a session sends as it
// ends.
type finalGoAway struct {
	code   GoAwayCode
	reason string
}

// shutdown ends the session with err. With flush, queued control frames (a
// GOAWAY) are written, bounded by finalFlushTimeout, before the connection is
// closed; otherwise the connection is closed at once.
func (s *Session) shutdown(err error, flush bool) { s.end(err, flush, nil) }

// end is shutdown that, when g is not nil, also queues g as the last frame.
// Only the call that ends the session queues its GOAWAY, so a session that
// ends on an error sends exactly one GOAWAY with an error code: the first
// reason wins, later ones (the layer above closing as it sees the end) are
// dropped.
func (s *Session) end(err error, flush bool, g *finalGoAway) {
	s.close1.Do(func() {
		if g != nil {
			s.w.queueGoAway(s.lastPeer(), g.code, g.reason)
		}
		serr := err
		var pe *ProtocolError
		switch {
		case errors.Is(err, ErrConnectionLost), errors.Is(err, ErrSessionClosed), err == ErrGoAway:
		case errors.As(err, &pe):
			serr = fmt.Errorf("%w: %w", ErrConnectionLost, err)
		default:
			serr = fmt.Errorf("%w: %w", ErrSessionClosed, err)
		}
		s.mu.Lock()
		s.err, s.streamErr = err, serr
		closeFs := s.closeFs
		s.closeFs = nil
		s.mu.Unlock()
		s.ended.Store(true)
		close(s.done)
		s.needReader() // the reader reads on until the connection closes
		for _, f := range closeFs {
			go f(serr)
		}
		if s.kaTimer != nil {
			s.kaTimer.Stop()
		}
		s.stallMu.Lock()
		if s.stallTimer != nil {
			s.stallTimer.Stop()
		}
		s.stallMu.Unlock()
		switch {
		case errors.Is(err, ErrSessionClosed), errors.Is(err, ErrGoAway):
			s.log.Debug("transport: session closed", "reason", err, "remote", s.conn.RemoteAddr())
		default:
			s.log.Info("transport: session closed", "reason", err, "remote", s.conn.RemoteAddr())
		}
		if flush {
			s.conn.SetWriteDeadline(time.Now().Add(finalFlushTimeout))
		} else {
			s.conn.Close()
		}
		s.w.kick() // the writer sees done: it flushes (or not) and closes conn
	})
}

// protocolError ends the session because the peer broke a rule.
func (s *Session) protocolError(err error) {
	reason := err.Error()
	var pe *ProtocolError
	if errors.As(err, &pe) {
		reason = pe.Reason
	}
	s.end(err, true, &finalGoAway{code: GoAwayProtocolError, reason: reason})
}

// removeStream forgets a finished stream; after GOAWAY the last one to go
// closes the session.
func (s *Session) removeStream(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] != st {
		s.mu.Unlock()
		return
	}
	delete(s.streams, st.id)
	if s.lastFound == st {
		s.lastFound = nil
	}
	if st.outbound {
		s.numOut--
	} else {
		s.numIn--
	}
	drained := (s.goAwaySent || s.goAwayRecv) && len(s.streams) == 0 && s.err == nil
	s.mu.Unlock()
	if drained {
		s.shutdown(ErrGoAway, true)
	}
}

// Stats are a session's traffic counters.
type Stats struct {
	BytesIn  uint64 // frame bytes read from the connection, headers included
	BytesOut uint64 // frame bytes written to the connection, headers included
}

// Stats returns the session's traffic counters (the preface not counted).
func (s *Session) Stats() Stats {
	return Stats{BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load()}
}

// isDone reports whether the session has ended (done is closed or about to
// be), as a check of done would, for the hot paths that ask on every frame.
func (s *Session) isDone() bool { return s.ended.Load() }
