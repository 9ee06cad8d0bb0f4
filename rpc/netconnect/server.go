package netconnect

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Server is Firefly's client front-end (netconnect's LiberateFactory):
// it accepts game clients speaking the datapack protocol, keeps a Session
// for each, hands each packet to its Service's handler by command id, and
// pushes packets to sessions. Its limits (options.go) protect it from any
// one client: a packet too large, a client that stops reading, one that
// sends too fast or not at all, too many clients.
type Server struct {
	opts options
	log  *slog.Logger

	nextID    atomic.Uint64
	onConnect atomic.Pointer[func(*Session)]
	onLost    atomic.Pointer[func(*Session, error)]
	linkLost  atomic.Pointer[func(*Session, error)] // Forward's
	stats     stats
	buffers   sync.Pool // *[]byte for replies, up to maxPooledBuffer

	mu        sync.Mutex
	sessions  map[uint64]*Session
	listeners map[net.Listener]struct{}
	shut      bool
	readers   sync.WaitGroup
}

// NewServer returns a server with opts.
func NewServer(opts ...Option) *Server {
	o := newOptions(opts)
	return &Server{
		opts:      o,
		log:       o.logger,
		sessions:  make(map[uint64]*Session),
		listeners: make(map[net.Listener]struct{}),
	}
}

// Service returns the server's command service.
func (s *Server) Service() *Service { return s.opts.service }

// Datapack returns the server's packet format.
func (s *Server) Datapack() Datapack { return s.opts.datapack }

// OnConnect sets the hook run for each new session, on its goroutine,
// before its first packet is read (Firefly's doConnectionMade); nil
// removes it.
func (s *Server) OnConnect(f func(*Session)) { storeHook(&s.onConnect, f) }

// OnLost sets the hook run once for each session that closed, with its
// reason (Session.Err), after it left the server (Firefly's
// doConnectionLost); nil removes it.
func (s *Server) OnLost(f func(*Session, error)) { storeHook(&s.onLost, f) }

func storeHook[F any](p *atomic.Pointer[F], f F) {
	if any(f) == nil {
		p.Store(nil)
		return
	}
	p.Store(&f)
}

// Serve accepts clients on ln until ctx ends, Close or Shutdown is called,
// or ln fails; it closes ln and returns ErrServerClosed or ctx's error
// (the sessions it accepted stay open), or ln's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer func() {
		stop()
		ln.Close()
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			shut := s.shut
			s.mu.Unlock()
			switch {
			case shut:
				return ErrServerClosed
			case ctx.Err() != nil:
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of descriptors or a passing error: wait, as
				// net/http does, and try again.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("netconnect: accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			return err
		}
		delay = 0
		s.accept(c)
	}
}

// accept makes a session of c, or refuses it.
func (s *Server) accept(c net.Conn) {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		c.Close()
		return
	}
	if len(s.sessions) >= s.opts.maxSessions {
		s.mu.Unlock()
		s.stats.refused.Add(1)
		s.log.Warn("netconnect: connection refused", "remote", c.RemoteAddr(), "reason", ErrTooManySessions, "max", s.opts.maxSessions)
		c.Close()
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sess := &Session{
		id:        s.nextID.Add(1),
		srv:       s,
		conn:      c,
		raw:       rawConn(c),
		ctx:       ctx,
		cancel:    cancel,
		connected: time.Now(),
	}
	s.sessions[sess.id] = sess
	s.readers.Add(1)
	s.mu.Unlock()
	s.stats.sessionsTotal.Add(1)
	s.log.Debug("netconnect: session opened", "session", sess.id, "remote", c.RemoteAddr())
	go sess.run()
}

// closed counts and logs a session closed for reason.
func (s *Server) closed(sess *Session, reason error) {
	i, limit := reasonIndex(reason)
	s.stats.closed[i].Add(1)
	level := slog.LevelDebug
	if limit {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "netconnect: session closed", "session", sess.id, "remote", sess.conn.RemoteAddr(), "reason", reason)
}

// finish removes a session whose reader ended and runs the lost hook.
func (s *Server) finish(sess *Session) {
	sess.closeWith(ErrSessionClosed) // however run ended, the session is closed
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
	defer s.readers.Done()
	if f := s.linkLost.Load(); f != nil {
		(*f)(sess, sess.Err())
	}
	if f := s.onLost.Load(); f != nil {
		(*f)(sess, sess.Err())
	}
}

// maxPooledBuffer is the largest packet buffer kept for reuse.
const maxPooledBuffer = 4 << 10

// getBuffer returns a packet buffer from the pool.
func (s *Server) getBuffer() *[]byte {
	if b, ok := s.buffers.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 256)
	return &b
}

// putBuffer returns a buffer whose packet is written to the pool.
func (s *Server) putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		s.buffers.Put(b)
	}
}

// Session returns the open session id, or nil.
func (s *Server) Session(id uint64) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// Sessions returns the open sessions, in no order.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// Len returns the number of open sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// CloseSession closes session id as Session.Close does (Firefly's
// loseConnection) and reports whether it was open.
func (s *Server) CloseSession(id uint64) bool {
	sess := s.Session(id)
	if sess == nil {
		return false
	}
	sess.Close()
	return true
}

// Push queues a packet with command topic and body data for each of the
// sessions ids (Firefly's pushObject(topic, msg, sendList)) and returns
// how many it was queued for: ids of sessions that are gone are skipped,
// and a session whose queue is full is closed (ErrQueueFull). The packet
// is encoded once and shared. It does not wait for any write. A body over
// the maximum is an error matching ErrTooLarge.
func (s *Server) Push(topic uint32, data []byte, ids ...uint64) (int, error) {
	pkt, err := s.opts.datapack.Encode(topic, data)
	if err != nil {
		return 0, err
	}
	targets := make([]*Session, 0, len(ids))
	s.mu.Lock()
	for _, id := range ids {
		if sess := s.sessions[id]; sess != nil {
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	return s.pushTo(targets, pkt), nil
}

// Broadcast queues a packet with command topic and body data for every
// open session, as Push does, and returns how many it was queued for.
func (s *Server) Broadcast(topic uint32, data []byte) (int, error) {
	pkt, err := s.opts.datapack.Encode(topic, data)
	if err != nil {
		return 0, err
	}
	return s.pushTo(s.Sessions(), pkt), nil
}

// pushTo queues pkt for each of targets and returns for how many it did.
// Large sets are split across the processors: each packet is written as
// it is queued when its socket has room, and those writes are the cost of
// a broadcast. The sockets are written in the order they were accepted
// (targets is sorted by id): the kernel's state of sockets made one after
// the other lies close together, and a walk in that order costs it less
// than one in the sessions map's order.
func (s *Server) pushTo(targets []*Session, pkt []byte) int {
	slices.SortFunc(targets, func(a, b *Session) int { return cmp.Compare(a.id, b.id) })
	var n atomic.Int64
	push := func(part []*Session) {
		k := 0
		for _, sess := range part {
			if sess.enqueue(pkt, nil) == nil {
				k++
			}
		}
		n.Add(int64(k))
	}
	workers := min(runtime.GOMAXPROCS(0), len(targets)/pushChunk)
	if workers <= 1 {
		push(targets)
		return int(n.Load())
	}
	var wg sync.WaitGroup
	size := (len(targets) + workers - 1) / workers
	for part := range slices.Chunk(targets, size) {
		wg.Go(func() { push(part) })
	}
	wg.Wait()
	return int(n.Load())
}

// pushChunk is the fewest sessions a push hands to a goroutine of its own.
const pushChunk = 256

// Stats returns the server's counters.
func (s *Server) Stats() Stats { return s.stats.snapshot(s.Len()) }

// Close stops every Serve and closes every session now (reason
// ErrServerClosed), without waiting for their handlers.
func (s *Server) Close() error {
	for _, sess := range s.stop() {
		sess.closeWith(ErrServerClosed)
	}
	return nil
}

// stop marks the server shut, closes its listeners and returns its
// sessions.
func (s *Server) stop() []*Session {
	s.mu.Lock()
	s.shut = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	return s.Sessions()
}

// Shutdown stops every Serve, closes every session once its queued
// packets are written, and waits until every session's goroutine has
// returned (its handler included, told by its context). If ctx ends first,
// it closes what is left at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, sess := range s.stop() {
		sess.Close()
	}
	done := make(chan struct{})
	go func() {
		s.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}
