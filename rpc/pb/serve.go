package pb

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pb: server closed")

// Server accepts PB connections and offers each the same root object:
// Twisted's PBServerFactory(root). The root is any value with RemoteXxx
// methods (or an rpc.Dispatcher), exactly as for rpc.NewServer.
type Server struct {
	opts *options
	root *target

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	lns    map[net.Listener]struct{}
	closed bool
	wg     sync.WaitGroup

	pending    map[net.Conn]struct{} // accepted, negotiating
	handshakes chan struct{}         // a token per connection in its negotiation
	quit       chan struct{}         // closed by Close
}

// NewServer returns a server offering root (nil: no root object, so every
// message to 'root' fails with "Invalid Object ID"). The root's methods are
// checked here: a method of a bad shape is an error naming it.
func NewServer(root any, opts ...Option) (*Server, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:       o,
		conns:      make(map[*Conn]struct{}),
		lns:        make(map[net.Listener]struct{}),
		pending:    make(map[net.Conn]struct{}),
		handshakes: make(chan struct{}, o.maxHandshakes),
		quit:       make(chan struct{}),
	}
	if root != nil {
		if s.root, err = newTarget(o.registry, root); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Serve accepts connections on ln until ln fails or the server is closed,
// negotiating each in its own goroutine. It returns ErrServerClosed after
// Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		select { // a negotiation slot for the next connection
		case s.handshakes <- struct{}{}:
		case <-s.quit:
			return ErrServerClosed
		}
		nc, err := ln.Accept()
		if err != nil {
			<-s.handshakes
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opts.logger.Warn("pb: accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.pending[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			_, err := s.ServeConn(context.Background(), nc)
			s.mu.Lock()
			delete(s.pending, nc)
			s.mu.Unlock()
			<-s.handshakes
			if err != nil {
				s.opts.logger.Info("pb: connection refused", "remote", nc.RemoteAddr(), "err", err)
				nc.Close()
			}
		}()
	}
}

// ServeConn runs the serving side of PB over an accepted connection: it
// sends the dialect offer, waits for the peer's choice (bounded by ctx and
// the handshake timeout) and returns the running connection. On error nc is
// left open.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) (*Conn, error) {
	c := newConn(nc, s.opts, s.root, true)
	held, err := c.negotiate(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-c.Done()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	if s.opts.onConnect != nil {
		s.opts.onConnect(c)
	}
	c.start(held)
	return c, nil
}

// Conns returns the server's live connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// Close stops every Serve and closes every connection, those still
// negotiating too, and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.quit)
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	conns := s.conns
	s.conns = make(map[*Conn]struct{})
	for nc := range s.pending {
		nc.Close()
	}
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}
