package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/fireflyrpc/firefly/transport"
)

// WithTLS runs the connection over TLS with cfg. A server wraps each
// accepted connection with tls.Server, a dialling side with tls.Client (Dial
// fills in cfg.ServerName from the address when it is empty). The TLS
// handshake comes first, before the shared-secret exchange (WithSharedSecret)
// and the transport's preface, and is bounded by the context and the
// transport's handshake timeout.
//
// To require client certificates, set cfg.ClientAuth to
// tls.RequireAndVerifyClientCert and cfg.ClientCAs on the server; handlers
// then find the verified certificate's subject common name in
// PeerFromContext(ctx).Identity.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// handshakeTimeout is the bound on each handshake step: the transport's.
func (o *options) handshakeTimeout() time.Duration {
	if o.transport != nil && o.transport.HandshakeTimeout > 0 {
		return o.transport.HandshakeTimeout
	}
	return transport.DefaultHandshakeTimeout
}

// check validates the options of a side before any connection is made.
func (o *options) check(client bool) error {
	if o.idleTimeout < 0 {
		return fmt.Errorf("rpc: WithIdleTimeout: negative duration %v", o.idleTimeout)
	}
	if o.maxHandshakes < 1 {
		return fmt.Errorf("rpc: WithMaxHandshakes: %d, want at least 1", o.maxHandshakes)
	}
	return o.checkAuth(client)
}

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
					err = authClient(conn, o.identity, o.secret)
				} else {
					id, err = authServer(conn, o.serverKeyring())
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

// tlsHandshake wraps nc in TLS and runs the handshake within ctx.
func tlsHandshake(ctx context.Context, nc net.Conn, cfg *tls.Config, client bool, serverName string) (*tls.Conn, error) {
	var tc *tls.Conn
	if client {
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify && serverName != "" {
			cfg = cfg.Clone()
			cfg.ServerName = serverName
		}
		tc = tls.Client(nc, cfg)
	} else {
		tc = tls.Server(nc, cfg)
	}
	if err := bounded(ctx, nc, tc.Handshake); err != nil {
		return nil, fmt.Errorf("rpc: TLS handshake: %w", err)
	}
	return tc, nil
}
