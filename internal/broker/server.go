package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is what a Server needs of a broker's connection: a way to learn of
// its end, to forget it then.
type Conn interface {
	comparable
	NotifyOnDisconnect(f func(error)) (cancel func())
}

// ServerConfig configures a Server.
type ServerConfig struct {
	Logger        *slog.Logger
	Prefix        string // of the log messages: the broker's package, "rpc" or "pb"
	MaxHandshakes int    // accepted connections in their handshakes at once
	Closed        error  // what Serve returns once the server is stopped
	Ended         error  // a handshake failure matching it is the peer's going away, logged at Debug
	// HandshakeCloses says that a failed handshake has closed its
	// connection itself (or handed it to something that will, after telling
	// the peer why), so Serve must not close it.
	HandshakeCloses bool
}

// Server is a server's accept loop and its set of connections. Serve holds
// at most MaxHandshakes accepted connections in their handshakes at once,
// each in its own goroutine; a connection whose handshake is done joins the
// set with Add and leaves it when it ends.
type Server[C Conn] struct {
	cfg ServerConfig

	mu       sync.Mutex
	conns    map[C]struct{}
	lns      map[net.Listener]struct{}
	pending  map[net.Conn]struct{} // accepted, in their handshakes
	closed   bool
	shutdown bool
	wg       sync.WaitGroup // the handshakes' goroutines

	handshakes chan struct{} // a token per connection in its handshakes
	quit       chan struct{} // closed by Stop
	paused     atomic.Bool   // Serve waits for a handshake slot (logged once)
}

// Init makes the server ready.
func (s *Server[C]) Init(cfg ServerConfig) {
	s.cfg = cfg
	s.conns = make(map[C]struct{})
	s.lns = make(map[net.Listener]struct{})
	s.pending = make(map[net.Conn]struct{})
	s.handshakes = make(chan struct{}, cfg.MaxHandshakes)
	s.quit = make(chan struct{})
}

// Serve accepts connections on ln until ln fails or the server is stopped,
// running handshake on each in its own goroutine (a broker's ServeConn,
// which Adds the connection); a connection whose handshake fails is logged
// and closed. It returns ServerConfig.Closed once the server is stopped.
func (s *Server[C]) Serve(ln net.Listener, handshake func(context.Context, net.Conn) (C, error)) error {
	s.mu.Lock()
	if s.closed || s.shutdown {
		s.mu.Unlock()
		return s.cfg.Closed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	log := s.cfg.Logger
	var delay time.Duration
	for {
		if !s.handshakeSlot() {
			return s.cfg.Closed
		}
		nc, err := ln.Accept()
		if err != nil {
			<-s.handshakes
			s.mu.Lock()
			done := s.closed || s.shutdown
			s.mu.Unlock()
			if done {
				return s.cfg.Closed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn(s.cfg.Prefix+": accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			<-s.handshakes
			nc.Close()
			return s.cfg.Closed
		}
		s.pending[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			_, err := handshake(context.Background(), nc)
			s.mu.Lock()
			delete(s.pending, nc)
			s.mu.Unlock()
			<-s.handshakes
			switch {
			case err == nil:
			case s.cfg.Ended != nil && errors.Is(err, s.cfg.Ended):
				log.Debug(s.cfg.Prefix+": connection ended in its handshake", "remote", nc.RemoteAddr(), "err", err)
			default:
				log.Info(s.cfg.Prefix+": connection refused", "remote", nc.RemoteAddr(), "err", err)
			}
			if err != nil && !s.cfg.HandshakeCloses {
				nc.Close()
			}
		}()
	}
}

// handshakeSlot takes a handshake slot for the next accepted connection,
// waiting while MaxHandshakes connections are in their handshakes; false
// when the server stops first.
func (s *Server[C]) handshakeSlot() bool {
	select {
	case s.handshakes <- struct{}{}:
		s.paused.Store(false)
		return true
	default:
	}
	if s.paused.CompareAndSwap(false, true) {
		s.cfg.Logger.Warn(s.cfg.Prefix+": handshake limit reached; accepting paused", "limit", cap(s.handshakes))
	}
	select {
	case s.handshakes <- struct{}{}:
		return true
	case <-s.quit:
		return false
	}
}

// Add puts c, whose handshake over nc is done, in the set until it ends.
// From then on nc is c's: Stop returns c for the caller to end, and no
// longer closes nc as a connection in its handshake, even while the
// handshake's goroutine has not returned yet. ok is false once the server
// is closed (c is not added); late reports a server shutting down
// gracefully, which c should then do too.
func (s *Server[C]) Add(nc net.Conn, c C) (late, ok bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, false
	}
	late = s.shutdown
	delete(s.pending, nc)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.NotifyOnDisconnect(func(error) {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
	return late, true
}

// Conns returns the connections in the set.
func (s *Server[C]) Conns() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]C, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// Stop stops every Serve, closes the listeners and returns the connections
// for the caller to end. Stopped gracefully, the server lets the
// connections in their handshakes finish them (Add reports them late);
// otherwise it closes those, and Add refuses them.
func (s *Server[C]) Stop(graceful bool) ([]C, error) {
	s.mu.Lock()
	if graceful {
		s.shutdown = true
	} else {
		s.closed = true
		for nc := range s.pending {
			nc.Close()
		}
	}
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	lns := s.lns
	s.lns = map[net.Listener]struct{}{}
	conns := make([]C, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var errs []error
	for ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return conns, errors.Join(errs...)
}

// Wait waits for the goroutines of the handshakes Serve started.
func (s *Server[C]) Wait() { s.wg.Wait() }
