package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/transport"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("rpc: server closed")

// Server accepts connections and offers each the same root object: PB's
// PBServerFactory(root). Every accepted connection is a full, symmetric Conn.
type Server struct {
	opts *options
	root *target

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	lns      map[net.Listener]struct{}
	closed   bool
	shutdown bool
	wg       sync.WaitGroup // connections being set up

	handshakes chan struct{} // a token per connection in its handshakes
	quit       chan struct{} // closed by Close and Shutdown
	paused     atomic.Bool   // Serve waits for a handshake slot (logged once)
}

// NewServer returns a server offering root (nil: no root object). The root's
// RemoteXxx methods are checked here: a method of a bad shape is an error
// naming it and the reason.
func NewServer(root any, opts ...Option) (*Server, error) {
	o := newOptions(opts)
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.check(false); err != nil {
		return nil, err
	}
	s := &Server{
		opts:       o,
		conns:      make(map[*Conn]struct{}),
		lns:        make(map[net.Listener]struct{}),
		handshakes: make(chan struct{}, o.maxHandshakes),
		quit:       make(chan struct{}),
	}
	if root != nil {
		obj, err := newTarget(o.registry, root)
		if err != nil {
			return nil, err
		}
		s.root = obj
	}
	return s, nil
}

// Serve accepts connections on ln until ln fails or the server is closed,
// running the handshake of each in its own goroutine. It returns
// ErrServerClosed after Close or Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed || s.shutdown {
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
		if !s.handshakeSlot() {
			return ErrServerClosed
		}
		nc, err := ln.Accept()
		if err != nil {
			<-s.handshakes
			s.mu.Lock()
			done := s.closed || s.shutdown
			s.mu.Unlock()
			if done {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opts.logger.Warn("rpc: accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, err := s.ServeConn(context.Background(), nc)
			<-s.handshakes
			switch {
			case err == nil:
			case errors.Is(err, ErrShutdown):
				// The peer went away gracefully during the handshake.
				s.opts.logger.Debug("rpc: connection ended in its handshake", "remote", nc.RemoteAddr(), "err", err)
				nc.Close()
			default:
				s.opts.logger.Info("rpc: connection refused", "remote", nc.RemoteAddr(), "err", err)
				nc.Close()
			}
		}()
	}
}

// handshakeSlot takes a handshake slot for the next accepted connection,
// waiting while WithMaxHandshakes connections are in their handshakes; false
// when the server closes first.
func (s *Server) handshakeSlot() bool {
	select {
	case s.handshakes <- struct{}{}:
		s.paused.Store(false)
		return true
	default:
	}
	if s.paused.CompareAndSwap(false, true) {
		s.opts.logger.Warn("rpc: handshake limit reached; accepting paused", "limit", cap(s.handshakes))
	}
	select {
	case s.handshakes <- struct{}{}:
		return true
	case <-s.quit:
		return false
	}
}

// ServeConn runs the server side of a broker over an accepted network
// connection and returns it once the handshakes are done (TLS and the
// shared-secret exchange when configured, then the transport's), each bounded
// by ctx and the transport's handshake timeout. On error nc is left open.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) (*Conn, error) {
	conn, peer, err := s.opts.secure(ctx, nc, false, "")
	if err != nil {
		return nil, err
	}
	sess, err := transport.Server(ctx, conn, s.opts.sessionConfig())
	if err != nil {
		return nil, err
	}
	c := newConn(sess, s.opts, s.opts.registry, s.root)
	c.peer = peer
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sess.Close()
		return nil, ErrServerClosed
	}
	// A connection that completes its handshake while the server shuts
	// down is closed gracefully too: its peer may have sent calls already,
	// which are refused with ErrShutdown rather than lost.
	late := s.shutdown
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.NotifyOnDisconnect(func(error) {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
	if err := c.announce(); err != nil {
		c.shutdown(err)
		return nil, err
	}
	if s.opts.onConnect != nil {
		s.opts.onConnect(c)
	}
	c.start()
	if late {
		c.closing.Store(true)
		c.openLanes(ctx)
		c.sess.GoAway()
	}
	return c, nil
}

// Conns returns the server's open connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// Close stops the listeners and closes every connection at once.
func (s *Server) Close() error {
	conns, err := s.stop(func() { s.closed = true })
	for _, c := range conns {
		c.shutdown(fmt.Errorf("%w: server closed", ErrShutdown))
	}
	s.wg.Wait()
	return err
}

// stop marks the server closing (mark runs under s.mu), closes its listeners
// and returns its connections.
func (s *Server) stop(mark func()) ([]*Conn, error) {
	s.mu.Lock()
	mark()
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	lns := s.lns
	s.lns = map[net.Listener]struct{}{}
	conns := make([]*Conn, 0, len(s.conns))
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

// Shutdown closes the server gracefully: it stops the listeners, sends each
// connection's peer a GOAWAY, refuses new incoming calls with ErrShutdown,
// and waits until each connection has finished: the handlers already running
// answered, the calls the peer made before it learned of the GOAWAY were
// answered (or refused), and both sides closed their lanes (see
// docs/PROTOCOL.md, Closing gracefully). When ctx ends first, it closes
// everything at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, _ := s.stop(func() { s.shutdown = true })
	for _, c := range conns {
		c.closing.Store(true)
		c.openLanes(ctx)
		c.sess.GoAway()
	}
	var err error
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	for _, c := range conns {
		c.shutdown(fmt.Errorf("%w: server shut down", ErrShutdown))
	}
	s.wg.Wait()
	return err
}
