package pb

import (
	"context"
	"errors"
	"net"

	"github.com/fireflyrpc/firefly/internal/broker"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pb: server closed")

// Server accepts PB connections and offers each the same root object:
// Twisted's PBServerFactory(root). The root is any value with RemoteXxx
// methods (or an rpc.Dispatcher), exactly as for rpc.NewServer.
type Server struct {
	opts *options
	root *target
	srv  broker.Server[*Conn]
}

// NewServer returns a server offering root (nil: no root object, so every
// message to 'root' fails with "Invalid Object ID"). The root's methods are
// checked here: a method of a bad shape is an error naming it.
func NewServer(root any, opts ...Option) (*Server, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o}
	s.srv.Init(broker.ServerConfig{
		Logger:        o.logger,
		Prefix:        "pb",
		MaxHandshakes: o.maxHandshakes,
		Closed:        ErrServerClosed,
	})
	if root != nil {
		if s.root, err = newTarget(o.registry, root); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Serve accepts connections on ln until ln fails or the server is closed,
// negotiating each in its own goroutine, at most WithMaxHandshakes at once.
// It returns ErrServerClosed after Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(ln, s.ServeConn)
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
	if _, ok := s.srv.Add(nc, c); !ok {
		return nil, ErrServerClosed
	}
	if s.opts.onConnect != nil {
		s.opts.onConnect(c)
	}
	c.start(held)
	return c, nil
}

// Conns returns the server's live connections.
func (s *Server) Conns() []*Conn { return s.srv.Conns() }

// Close stops every Serve and closes every connection, those still
// negotiating too, and waits for their goroutines.
func (s *Server) Close() error {
	conns, err := s.srv.Stop(false)
	for _, c := range conns {
		c.Close()
	}
	s.srv.Wait()
	return err
}
