package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"

	"github.com/fireflyrpc/firefly/rpc/internal/auth"
)

// ErrAuthFailed reports that the shared-secret exchange failed: the peer
// could not prove it holds the secret of the identity it claimed (or of this
// side's identity, seen from the dialling side), claimed an identity the
// keyring does not know, or did not take part in the exchange at all. The
// peer learns nothing more than that: every failure looks the same on the
// wire. The serving side's log says which it was.
var ErrAuthFailed = auth.ErrFailed

// A Keyring returns the shared secret of a peer identity, and false for an
// identity it does not know. It is called once per connection attempt, from
// the goroutine running that connection's handshake, so it may be backed by
// configuration that is reloaded (under its own lock).
type Keyring func(identity string) (secret []byte, ok bool)

// KeyringOf returns a Keyring over a copy of m (identity to secret).
func KeyringOf(m map[string][]byte) Keyring {
	m = maps.Clone(m)
	for id, s := range m {
		m[id] = bytes.Clone(s)
	}
	return func(identity string) ([]byte, bool) {
		s, ok := m[identity]
		return s, ok
	}
}

// WithSharedSecret makes the connection authenticate with a shared secret
// before anything else is exchanged: each side proves to the other, by
// HMAC-SHA256 over fresh random nonces from both sides, that it holds secret,
// and a peer that fails (or does not try) is dropped with ErrAuthFailed
// before it can open a single stream. The exchange is bounded by the
// handshake timeout (transport.Config.HandshakeTimeout) and the context.
//
// A dialling side presents identity and proves secret. A server given this
// option accepts that one identity (use WithKeyring for several). Handlers
// read the peer's identity with PeerFromContext.
//
// The secret should be at least 32 random bytes. Without WithTLS the
// exchange keeps unauthorised peers out but does not protect the traffic
// that follows from an attacker on the path: see docs/SECURITY.md.
func WithSharedSecret(identity string, secret []byte) Option {
	secret = bytes.Clone(secret)
	return func(o *options) { o.identity, o.secret = identity, secret }
}

// WithKeyring makes a server require the shared-secret exchange (see
// WithSharedSecret) and accept the identities k knows, each with its own
// secret. It takes precedence over a server's WithSharedSecret.
func WithKeyring(k Keyring) Option { return func(o *options) { o.keyring = k } }

// checkAuth validates the shared-secret options of a side.
func (o *options) checkAuth(client bool) error {
	if o.secret == nil && o.identity == "" {
		if client && o.keyring != nil {
			return errors.New("rpc: WithKeyring is for servers; a dialling side authenticates with WithSharedSecret")
		}
		return nil
	}
	switch {
	case o.identity == "" || len(o.identity) > auth.MaxIdentityLen:
		return fmt.Errorf("rpc: WithSharedSecret: the identity must be 1 to %d bytes", auth.MaxIdentityLen)
	case len(o.secret) == 0:
		return errors.New("rpc: WithSharedSecret: empty secret")
	}
	return nil
}

// authenticates reports whether this side runs the shared-secret exchange.
func (o *options) authenticates(client bool) bool {
	if client {
		return o.secret != nil
	}
	return o.keyring != nil || o.secret != nil
}

// serverKeyring returns the keyring a server checks identities against.
func (o *options) serverKeyring() Keyring {
	if o.keyring != nil {
		return o.keyring
	}
	id, secret := o.identity, o.secret
	return func(identity string) ([]byte, bool) {
		if identity != id {
			return nil, false
		}
		return secret, true
	}
}
