package rpc

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"

	"github.com/fireflyrpc/firefly/transport"
)

// ErrAuthFailed reports that the shared-secret exchange failed: the peer
// could not prove it holds the secret of the identity it claimed (or of this
// side's identity, seen from the dialling side), claimed an identity the
// keyring does not know, or did not take part in the exchange at all. The
// peer learns nothing more than that: every failure looks the same on the
// wire. The serving side's log says which it was.
var ErrAuthFailed = errors.New("rpc: authentication failed")

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

// The exchange; docs/SECURITY.md has the byte layout.
const (
	authMagic      = "\x89FFAU\r\n\x1a"
	authVersion    = 1
	authNonceLen   = 32
	authMACLen     = sha256.Size
	maxIdentityLen = 255

	authHelloHead = len(authMagic) + 2 // magic, version, identity length
	authChallenge = len(authMagic) + 1 + authNonceLen + authMACLen

	authAccepted byte = 0
	authRefused  byte = 1
)

// checkAuth validates the shared-secret options of a side.
func (o *options) checkAuth(client bool) error {
	if o.secret == nil && o.identity == "" {
		if client && o.keyring != nil {
			return errors.New("rpc: WithKeyring is for servers; a dialling side authenticates with WithSharedSecret")
		}
		return nil
	}
	switch {
	case o.identity == "" || len(o.identity) > maxIdentityLen:
		return fmt.Errorf("rpc: WithSharedSecret: the identity must be 1 to %d bytes", maxIdentityLen)
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

// authMAC is the proof of role ("client" or "server") for one exchange.
func authMAC(secret []byte, role, identity string, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("firefly auth v1 " + role + "\x00"))
	m.Write([]byte{byte(len(identity))})
	m.Write([]byte(identity))
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}

// authClient runs the dialling side of the exchange on conn.
func authClient(conn net.Conn, identity string, secret []byte) error {
	hello := make([]byte, 0, authHelloHead+len(identity)+authNonceLen)
	hello = append(hello, authMagic...)
	hello = append(hello, authVersion, byte(len(identity)))
	hello = append(hello, identity...)
	hello = append(hello, make([]byte, authNonceLen)...)
	nc := hello[len(hello)-authNonceLen:]
	rand.Read(nc)
	if _, err := conn.Write(hello); err != nil {
		return authIOError("sending the hello", err)
	}
	var ch [authChallenge]byte
	if _, err := io.ReadFull(conn, ch[:]); err != nil {
		return authIOError("reading the challenge", err)
	}
	if string(ch[:len(authMagic)]) != authMagic || ch[len(authMagic)] != authVersion {
		return fmt.Errorf("%w: the server does not run firefly's authentication exchange (version 1)", ErrAuthFailed)
	}
	ns := ch[len(authMagic)+1 : len(authMagic)+1+authNonceLen]
	ps := ch[len(authMagic)+1+authNonceLen:]
	if !hmac.Equal(ps, authMAC(secret, "server", identity, nc, ns)) {
		return fmt.Errorf("%w: the server did not prove it holds the secret of %q", ErrAuthFailed, identity)
	}
	if _, err := conn.Write(authMAC(secret, "client", identity, nc, ns)); err != nil {
		return authIOError("sending the proof", err)
	}
	var verdict [1]byte
	if _, err := io.ReadFull(conn, verdict[:]); err != nil {
		return authIOError("reading the verdict", err)
	}
	if verdict[0] != authAccepted {
		return fmt.Errorf("%w: refused by the server", ErrAuthFailed)
	}
	return nil
}

// authServer runs the accepting side of the exchange on conn and returns the
// identity the peer proved. An identity the keyring does not know goes
// through the same steps as a known one, with a random secret, so the peer
// cannot tell the two apart.
func authServer(conn net.Conn, keyring Keyring) (string, error) {
	var head [authHelloHead]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return "", authIOError("reading the hello", err)
	}
	if string(head[:len(authMagic)]) != authMagic {
		return "", fmt.Errorf("%w: the peer did not authenticate (first bytes %q)", ErrAuthFailed, head[:])
	}
	if v := head[len(authMagic)]; v != authVersion {
		return "", fmt.Errorf("%w: unsupported version %d", ErrAuthFailed, v)
	}
	rest := make([]byte, int(head[authHelloHead-1])+authNonceLen)
	if _, err := io.ReadFull(conn, rest); err != nil {
		return "", authIOError("reading the hello", err)
	}
	identity := string(rest[:len(rest)-authNonceLen])
	nc := rest[len(rest)-authNonceLen:]
	secret, known := keyring(identity)
	if !known || len(secret) == 0 {
		known = false
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	ch := make([]byte, 0, authChallenge)
	ch = append(ch, authMagic...)
	ch = append(ch, authVersion)
	ch = append(ch, make([]byte, authNonceLen)...)
	ns := ch[len(ch)-authNonceLen:]
	rand.Read(ns)
	ch = append(ch, authMAC(secret, "server", identity, nc, ns)...)
	if _, err := conn.Write(ch); err != nil {
		return "", authIOError("sending the challenge", err)
	}
	var pc [authMACLen]byte
	if _, err := io.ReadFull(conn, pc[:]); err != nil {
		if !known {
			return "", fmt.Errorf("%w: unknown identity %q", ErrAuthFailed, identity)
		}
		return "", fmt.Errorf("%w: identity %q gave no proof (a wrong secret on its side?): %w", ErrAuthFailed, identity, authIOError("reading the proof", err))
	}
	good := hmac.Equal(pc[:], authMAC(secret, "client", identity, nc, ns))
	if !good || !known {
		conn.Write([]byte{authRefused})
		if !known {
			return "", fmt.Errorf("%w: unknown identity %q", ErrAuthFailed, identity)
		}
		return "", fmt.Errorf("%w: identity %q gave a wrong proof", ErrAuthFailed, identity)
	}
	if _, err := conn.Write([]byte{authAccepted}); err != nil {
		return "", authIOError("sending the verdict", err)
	}
	return identity, nil
}

// authIOError wraps an I/O failure during the exchange: it matches
// ErrAuthFailed and what happened (ErrConnectionLost for a closed connection,
// transport.ErrHandshakeTimeout once the deadline passed).
func authIOError(step string, err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s: %w", ErrAuthFailed, step, transport.ErrHandshakeTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %s: %w: %w", ErrAuthFailed, step, ErrConnectionLost, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrAuthFailed, step, err)
}
