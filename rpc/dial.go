package rpc

import (
	"context"
	"net"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/transport"
)

// Dial connects to a server at addr on network (e.g. "tcp") and returns the
// connection once the handshake is done. ctx bounds the dial and the
// handshakes (TLS, shared secret, transport), each also bounded by the
// transport's handshake timeout. With WithTLS and no ServerName in the TLS
// configuration, the host part of addr is the name verified.
func Dial(ctx context.Context, network, addr string, opts ...Option) (*Conn, error) {
	o, err := configure(opts, true)
	if err != nil {
		return nil, err
	}
	host, _, herr := net.SplitHostPort(addr)
	if herr != nil {
		host = addr
	}
	return broker.Dial(ctx, network, addr, func(nc net.Conn) (*Conn, error) {
		return newClientConn(ctx, nc, o, host)
	})
}

// NewConn runs a broker over an established network connection, as the
// dialling side. ctx bounds the handshakes. On error nc is left open (a
// failed TLS or shared-secret exchange may have written to it).
func NewConn(ctx context.Context, nc net.Conn, opts ...Option) (*Conn, error) {
	o, err := configure(opts, true)
	if err != nil {
		return nil, err
	}
	return newClientConn(ctx, nc, o, "")
}

func newClientConn(ctx context.Context, nc net.Conn, o *options, serverName string) (*Conn, error) {
	var root *target
	if o.root != nil {
		var err error
		if root, err = newTarget(o.registry, o.root); err != nil {
			return nil, err
		}
	}
	conn, peer, err := o.secure(ctx, nc, true, serverName)
	if err != nil {
		return nil, err
	}
	sess, err := transport.Client(ctx, conn, o.sessionConfig())
	if err != nil {
		return nil, err
	}
	c := newConn(sess, o, o.registry, root)
	c.peer = peer
	if err := c.announce(); err != nil {
		c.shutdown(err)
		return nil, err
	}
	if o.onConnect != nil {
		o.onConnect(c)
	}
	c.start()
	return c, nil
}
