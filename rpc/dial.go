package rpc

import (
	"context"
	"net"

	"github.com/fireflyrpc/firefly/transport"
)

// Dial connects to a server at addr on network (e.g. "tcp") and returns the
// connection once the handshake is done. ctx bounds the dial and the
// handshake.
func Dial(ctx context.Context, network, addr string, opts ...Option) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c, err := NewConn(ctx, nc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewConn runs a broker over an established network connection, as the
// dialling side. ctx bounds the handshake. On error nc is left open.
func NewConn(ctx context.Context, nc net.Conn, opts ...Option) (*Conn, error) {
	o := newOptions(opts)
	var root *target
	if o.root != nil {
		var err error
		if root, err = newTarget(o.registry, o.root); err != nil {
			return nil, err
		}
	}
	sess, err := transport.Client(ctx, nc, o.transport)
	if err != nil {
		return nil, err
	}
	c := newConn(sess, o, o.registry, root)
	if o.onConnect != nil {
		o.onConnect(c)
	}
	c.start()
	return c, nil
}
