package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
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
