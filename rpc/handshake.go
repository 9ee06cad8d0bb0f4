package rpc

import (
	"context"
	"net"
	"time"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/rpc/internal/auth"
	"github.com/fireflyrpc/firefly/transport"
)

// secure runs the steps that come before the transport's handshake on nc —
// TLS, then the shared-secret exchange — bounded by ctx and the handshake
// timeout, and returns the connection for the transport (wrapped for the
// idle timeout when one is set) and what is known of the peer.
func (o *options) secure(ctx context.Context, nc net.Conn, client bool, serverName string) (net.Conn, Peer, error) {
	peer := Peer{Addr: nc.RemoteAddr()}
	conn := nc
	if o.tls != nil || o.authenticates(client) {
		ctx, cancel := context.WithTimeout(ctx, o.handshakeTimeout())
		defer cancel()
		if o.tls != nil {
			tc, err := tlsHandshake(ctx, nc, o.tls, client, serverName)
			if err != nil {
				return nil, peer, err
			}
			conn = tc
			st := tc.ConnectionState()
			peer.TLS = &st
			if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
				peer.Identity = st.PeerCertificates[0].Subject.CommonName
				peer.Verified = true
			}
		}
		if o.authenticates(client) {
			var id string
			err := bounded(ctx, conn, func() error {
				var err error
				if client {
					id = o.identity
					err = auth.Client(conn, o.identity, o.secret, ErrConnectionLost)
				} else {
					id, err = auth.Server(conn, o.serverKeyring(), ErrConnectionLost)
				}
				return err
			})
			if err != nil {
				return nil, peer, err
			}
			peer.Identity = id
			peer.Verified = true
		}
	}
	return conn, peer, nil
}

// handshakeTimeout is the bound on each handshake step: the transport's.
func (o *options) handshakeTimeout() time.Duration {
	if o.transport != nil && o.transport.HandshakeTimeout > 0 {
		return o.transport.HandshakeTimeout
	}
	return transport.DefaultHandshakeTimeout
}

// bounded runs f, which does I/O on conn, within ctx (see broker.Bounded):
// a deadline that passed makes the error match transport.ErrHandshakeTimeout.
func bounded(ctx context.Context, conn net.Conn, f func() error) error {
	return broker.Bounded(ctx, conn, transport.ErrHandshakeTimeout, f)
}
