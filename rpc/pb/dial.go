package pb

import (
	"context"
	"net"

	"github.com/fireflyrpc/firefly/internal/broker"
)

// Dial connects to a PB server (Twisted's PBClientFactory and
// connectTCP) at addr on network ("tcp") and returns the connection once
// the dialect is chosen. ctx bounds the dial and the negotiation. The
// server's root is Conn.Root.
func Dial(ctx context.Context, network, addr string, opts ...Option) (*Conn, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return broker.Dial(ctx, network, addr, func(nc net.Conn) (*Conn, error) {
		return newClientConn(ctx, nc, o)
	})
}

// NewConn runs the dialling side of PB over an established connection. On
// error nc is left open.
func NewConn(ctx context.Context, nc net.Conn, opts ...Option) (*Conn, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newClientConn(ctx, nc, o)
}

func newClientConn(ctx context.Context, nc net.Conn, o *options) (*Conn, error) {
	c := newConn(nc, o, nil, false)
	held, err := c.negotiate(ctx)
	if err != nil {
		return nil, err
	}
	if o.onConnect != nil {
		o.onConnect(c)
	}
	c.start(held)
	return c, nil
}
