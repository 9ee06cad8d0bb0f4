package rpc

import (
	"context"
	"crypto/tls"
	"net"
)

// Peer describes the other side of a connection, as far as it proved it:
// PB's perspective, reduced to what a handler needs to decide what a caller
// may do.
type Peer struct {
	// Addr is the peer's network address.
	Addr net.Addr
	// Identity is who the peer proved to be: the identity of the
	// shared-secret exchange (WithSharedSecret, WithKeyring) when one ran,
	// else the subject common name of the peer's verified TLS certificate,
	// else empty. On the dialling side, a shared-secret Identity is the
	// dialler's own: the server proved it holds that identity's secret.
	Identity string
	// Verified is true when Identity was proved: by the shared-secret
	// exchange, or by a TLS certificate chain that verified.
	Verified bool
	// TLS is the state of the TLS connection (with the peer's
	// certificates), or nil without TLS.
	TLS *tls.ConnectionState
}

// Peer returns what is known of the connection's peer.
func (c *Conn) Peer() Peer { return c.peer }

// PeerFromContext returns the peer that made an incoming call, from a
// handler's context (see ConnFromContext).
func PeerFromContext(ctx context.Context) (Peer, bool) {
	c, ok := ConnFromContext(ctx)
	if !ok {
		return Peer{}, false
	}
	return c.Peer(), true
}
