package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/transport"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("rpc: server closed")

// Server accepts connections and offers each the same root object: PB's
// PBServerFactory(root). Every accepted connection is a full, symmetric Conn.
type Server struct {
	opts *options
	root *target
	srv  broker.Server[*Conn]
}

// NewServer returns a server offering root (nil: no root object). The root's
// RemoteXxx methods are checked here: a method of a bad shape is an error
// naming it and the reason.
func NewServer(root any, opts ...Option) (*Server, error) {
	o, err := configure(opts, false)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o}
	s.srv.Init(broker.ServerConfig{
		Logger:        o.logger,
		Prefix:        "rpc",
		MaxHandshakes: o.maxHandshakes,
		Closed:        ErrServerClosed,
		Ended:         ErrShutdown, // the peer went away gracefully
		// ServeConn closes what it fails: after the transport's handshake
		// the session does, once its GOAWAY has told the peer why.
		HandshakeCloses: true,
	})
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
// running the handshake of each in its own goroutine, at most
// WithMaxHandshakes at once. It returns ErrServerClosed after Close or
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(ln, s.ServeConn)
}

// ServeConn runs the server side of a broker over an accepted network
// connection and returns it once the handshakes are done (TLS and the
// shared-secret exchange when configured, then the transport's), each bounded
// by ctx and the transport's handshake timeout. ServeConn owns nc: on error
// it is closed, after the GOAWAY that tells the peer why where the transport
// session was already up.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) (*Conn, error) {
	conn, peer, err := s.opts.secure(ctx, nc, false, "")
	if err != nil {
		nc.Close()
		return nil, err
	}
	sess, err := transport.Server(ctx, conn, s.opts.sessionConfig())
	if err != nil {
		return nil, err
	}
	c := newConn(sess, s.opts, s.opts.registry, s.root)
	c.peer = peer
	// A connection that completes its handshake while the server shuts
	// down is closed gracefully too: its peer may have sent calls already,
	// which are refused with ErrShutdown rather than lost.
	late, ok := s.srv.Add(nc, c)
	if !ok {
		sess.Close()
		return nil, ErrServerClosed
	}
	if err := c.announce(); err != nil {
		c.shutdown(err)
		return nil, err
	}
	if s.opts.onConnect != nil {
		s.opts.onConnect(c)
	}
	c.start()
	if late {
		c.goAway(ctx)
	}
	return c, nil
}

// Conns returns the server's open connections.
func (s *Server) Conns() []*Conn { return s.srv.Conns() }

// Close stops the listeners and closes every connection at once, those
// still in their handshakes too.
func (s *Server) Close() error {
	conns, err := s.srv.Stop(false)
	for _, c := range conns {
		c.shutdown(fmt.Errorf("%w: server closed", ErrShutdown))
	}
	s.srv.Wait()
	return err
}

// Shutdown closes the server gracefully: it stops the listeners, sends each
// connection's peer a GOAWAY, refuses new incoming calls with ErrShutdown,
// and waits until each connection has finished: the handlers already running
// answered, the calls the peer made before it learned of the GOAWAY were
// answered (or refused), and both sides closed their lanes (see
// docs/PROTOCOL.md, Closing gracefully). When ctx ends first, it closes
// everything at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, _ := s.srv.Stop(true)
	for _, c := range conns {
		c.goAway(ctx)
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
	s.srv.Wait()
	return err
}
