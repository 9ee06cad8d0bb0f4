package netconnect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// A Session is one client connection of a Server (Firefly's connection with
// its sessionno). Its methods are safe for concurrent use.
//
// A session costs one goroutine, which reads it and runs its handlers. A
// packet sent to a session whose socket has room is written at once by the
// sender, without waiting; the rest, and packets sent meanwhile, are
// written by a second goroutine that runs only while packets wait, and
// exits when they are written.
type Session struct {
	id        uint64
	srv       *Server
	conn      net.Conn
	raw       syscall.RawConn // for writes that do not wait; nil: none
	ctx       context.Context
	cancel    context.CancelCauseFunc
	connected time.Time

	vmu    sync.Mutex
	values map[any]any

	calls sharedDeadlines // of the calls Forward makes for it

	wmu     sync.Mutex
	queue   [][]byte // packets waiting for the writer
	queued  int      // bytes in queue and in the writer's hands
	writing bool     // a writer goroutine runs
	closing bool     // Close was called: close once the queue is written
	closed  bool
	err     error // why it closed

	// The rate limiter's bucket, used by the reading goroutine only.
	tokens float64
	last   time.Time
}

// ID returns the session's id, unique for the server's life (Firefly's
// sessionno); ids start at 1.
func (s *Session) ID() uint64 { return s.id }

// RemoteAddr returns the client's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// ConnectedAt returns when the session was accepted.
func (s *Session) ConnectedAt() time.Time { return s.connected }

// Context returns a context that ends when the session closes; its cause
// (context.Cause) is the session's Err.
func (s *Session) Context() context.Context { return s.ctx }

// Server returns the session's server.
func (s *Session) Server() *Server { return s.srv }

// Set attaches val to the session under key (a player id, a login
// state); a nil val removes it.
func (s *Session) Set(key, val any) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if val == nil {
		delete(s.values, key)
		return
	}
	if s.values == nil {
		s.values = make(map[any]any)
	}
	s.values[key] = val
}

// Value returns the value attached under key, or nil.
func (s *Session) Value(key any) any {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	return s.values[key]
}

// String is "session 12 (127.0.0.1:50312)".
func (s *Session) String() string { return fmt.Sprintf("session %d (%v)", s.id, s.conn.RemoteAddr()) }

// Send queues a packet of command with body for the client and returns at
// once; the session's writer sends it. A body over the datapack's maximum
// is an error matching ErrTooLarge. If the queue would pass its bound
// (WithWriteQueue), the session is closed and Send returns ErrQueueFull;
// on a closed session it returns an error matching ErrSessionClosed.
func (s *Session) Send(command uint32, body []byte) error {
	buf := s.srv.getBuffer()
	pkt, err := s.srv.opts.datapack.Append((*buf)[:0], command, body)
	if err != nil {
		s.srv.putBuffer(buf)
		return err
	}
	*buf = pkt
	return s.enqueue(pkt, buf)
}

// enqueue queues an encoded packet. A packet shared with other sessions
// (buf nil) is never modified; one in buf, from the server's pool, goes
// back there if it is written at once.
func (s *Session) enqueue(pkt []byte, buf *[]byte) error {
	s.wmu.Lock()
	if s.closed || s.closing {
		err := s.err
		s.wmu.Unlock()
		if err == nil {
			err = ErrSessionClosed
		}
		return fmt.Errorf("%w: %w", ErrSessionClosed, err)
	}
	if s.queued+len(pkt) > s.srv.opts.writeQueue {
		s.wmu.Unlock()
		s.closeWith(ErrQueueFull)
		return ErrQueueFull
	}
	s.queued += len(pkt)
	if s.writing || s.raw == nil {
		s.queue = append(s.queue, pkt)
		start := !s.writing
		s.writing = true
		s.wmu.Unlock()
		if start {
			go s.write()
		}
		return nil
	}
	// Nothing waits: write what the socket takes now, and leave the rest
	// to a writer.
	s.writing = true
	s.wmu.Unlock()
	n, err := writeNow(s.raw, pkt)
	if n > 0 {
		s.srv.stats.bytesOut.Add(uint64(n))
	}
	if n == len(pkt) {
		s.srv.stats.packetsOut.Add(1)
		if buf != nil {
			s.srv.putBuffer(buf)
		}
	}
	s.wmu.Lock()
	s.queued -= n
	if err != nil {
		s.writing = false
		s.wmu.Unlock()
		s.closeWith(err)
		return nil
	}
	if n < len(pkt) {
		s.queue = slices.Insert(s.queue, 0, pkt[n:])
	}
	start := len(s.queue) > 0 && !s.closed
	s.writing = start
	closing := !start && s.closing && !s.closed
	s.wmu.Unlock()
	if start {
		go s.write()
	} else if closing {
		s.closeWith(ErrSessionClosed)
	}
	return nil
}

// write writes the queue until it is empty, then exits.
func (s *Session) write() {
	var batch net.Buffers
	for {
		s.wmu.Lock()
		if s.closed || len(s.queue) == 0 {
			s.writing = false
			closing := s.closing && !s.closed
			s.wmu.Unlock()
			if closing {
				s.closeWith(ErrSessionClosed)
			}
			return
		}
		batch = append(batch[:0], s.queue...)
		clear(s.queue)
		s.queue = s.queue[:0]
		s.wmu.Unlock()

		size := 0
		for _, p := range batch {
			size += len(p)
		}
		if d := s.srv.opts.writeTimeout; d > 0 {
			s.conn.SetWriteDeadline(time.Now().Add(d))
		}
		w := batch
		_, err := w.WriteTo(s.conn)
		s.srv.stats.packetsOut.Add(uint64(len(batch)))
		s.srv.stats.bytesOut.Add(uint64(size))
		clear(batch)
		s.wmu.Lock()
		s.queued -= size
		s.wmu.Unlock()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = ErrWriteTimeout
			}
			s.closeWith(err)
			return
		}
	}
}

// Close closes the session after the packets already queued are written
// (or the write timeout passes); Send fails from now on. Its reason is
// ErrSessionClosed. It does not wait.
func (s *Session) Close() error {
	s.wmu.Lock()
	if s.closed || s.closing {
		s.wmu.Unlock()
		return nil
	}
	if s.writing {
		s.closing = true
		s.wmu.Unlock()
		return nil
	}
	s.wmu.Unlock()
	s.closeWith(ErrSessionClosed)
	return nil
}

// Err returns why the session closed, or nil while it is open: io.EOF
// when the client closed it, else an error matching one of the package's
// sentinels (ErrIdle, ErrQueueFull, ErrBadHead, ...) or the connection's
// error.
func (s *Session) Err() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.err
}

// closeWith closes the session for reason, unless it is closed already,
// and reports whether it closed it.
func (s *Session) closeWith(reason error) bool {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return false
	}
	s.closed = true
	s.err = reason
	clear(s.queue)
	s.queue = nil
	s.wmu.Unlock()
	s.cancel(reason)
	s.conn.Close()
	s.srv.closed(s, reason)
	return true
}

// readErr turns the error that ended reading into the session's reason.
func readErr(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrIdle
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return err
}

// run reads and handles the session's packets until it closes, then
// removes it from the server.
func (s *Session) run() {
	srv := s.srv
	defer srv.finish(s)
	if f := srv.onConnect.Load(); f != nil {
		(*f)(s)
	}
	rd := NewReader(&srv.opts.datapack, s.conn)
	idle := srv.opts.idleTimeout
	for {
		if idle > 0 {
			s.conn.SetReadDeadline(time.Now().Add(idle))
		}
		h, body, err := rd.Read()
		if err != nil {
			s.closeWith(readErr(err))
			return
		}
		srv.stats.packetsIn.Add(1)
		srv.stats.bytesIn.Add(uint64(HeaderSize + len(body)))
		if srv.opts.rate > 0 && !s.limit() {
			return
		}
		handler := srv.opts.service.Handler(h.Command)
		if handler == nil {
			srv.stats.errors[errNoHandler].Add(1)
			srv.log.Debug("netconnect: no handler", "session", s.id, "command", h.Command)
			continue
		}
		reply, err := s.handle(handler, h.Command, body)
		if err != nil {
			kind := errHandler
			if errors.Is(err, errHandlerPanic) {
				kind = errPanic
			}
			srv.stats.errors[kind].Add(1)
			srv.log.Debug("netconnect: handler failed", "session", s.id, "command", h.Command, "err", err)
			continue
		}
		if reply != nil {
			if err := s.Send(h.Command, reply); err != nil {
				srv.log.Debug("netconnect: reply not sent", "session", s.id, "command", h.Command, "err", err)
			}
		}
	}
}

// errHandlerPanic is the error of a handler that panicked.
var errHandlerPanic = errors.New("netconnect: handler panicked")

// handle runs h, turning a panic into an error matching errHandlerPanic.
func (s *Session) handle(h Handler, command uint32, body []byte) (reply []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, err = nil, fmt.Errorf("%w: command %d: %v", errHandlerPanic, command, p)
		}
	}()
	return h(s.ctx, s, command, body)
}

// limit takes a token from the session's bucket, waiting for one if it is
// empty. It returns false if the session closed meanwhile.
func (s *Session) limit() bool {
	o := &s.srv.opts
	now := time.Now()
	if s.last.IsZero() {
		s.tokens = float64(o.burst)
	} else {
		s.tokens = min(float64(o.burst), s.tokens+now.Sub(s.last).Seconds()*o.rate)
	}
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return true
	}
	wait := time.Duration((1 - s.tokens) / o.rate * float64(time.Second))
	s.srv.stats.rateLimited.Add(1)
	s.srv.log.Debug("netconnect: rate limit: session paused", "session", s.id, "wait", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		return false
	}
	s.tokens = 0
	s.last = time.Now()
	return true
}
