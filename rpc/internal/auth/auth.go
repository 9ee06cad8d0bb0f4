// Package auth is firefly's shared-secret exchange, run over a connection
// before the transport's handshake: each side proves with an HMAC-SHA256
// over fresh nonces that it holds the secret of the identity the dialling
// side claims (docs/SECURITY.md has the byte layout).
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/fireflyrpc/firefly/transport"
)

// ErrFailed reports that the exchange failed: the peer could not prove it
// holds the secret of the identity it claimed (or of this side's identity,
// seen from the dialling side), claimed an identity the keyring does not
// know, or did not take part in the exchange at all. The peer learns nothing
// more than that: every failure looks the same on the wire.
var ErrFailed = errors.New("rpc: authentication failed")

// MaxIdentityLen is the longest identity the exchange carries, in bytes.
const MaxIdentityLen = 255

// The exchange; docs/SECURITY.md has the byte layout.
const (
	magic    = "\x89FFAU\r\n\x1a"
	version  = 1
	nonceLen = 32
	macLen   = sha256.Size

	helloHead    = len(magic) + 2 // magic, version, identity length
	challengeLen = len(magic) + 1 + nonceLen + macLen

	accepted byte = 0
	refused  byte = 1
)

// mac is the proof of role ("client" or "server") for one exchange.
func mac(secret []byte, role, identity string, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("firefly auth v1 " + role + "\x00"))
	m.Write([]byte{byte(len(identity))})
	m.Write([]byte(identity))
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}

// Client runs the dialling side of the exchange on conn. An I/O failure
// matches lost where it is the connection's end.
func Client(conn net.Conn, identity string, secret []byte, lost error) error {
	hello := make([]byte, 0, helloHead+len(identity)+nonceLen)
	hello = append(hello, magic...)
	hello = append(hello, version, byte(len(identity)))
	hello = append(hello, identity...)
	hello = append(hello, make([]byte, nonceLen)...)
	nc := hello[len(hello)-nonceLen:]
	rand.Read(nc)
	if _, err := conn.Write(hello); err != nil {
		return ioError(lost, "sending the hello", err)
	}
	var ch [challengeLen]byte
	if _, err := io.ReadFull(conn, ch[:]); err != nil {
		return ioError(lost, "reading the challenge", err)
	}
	if string(ch[:len(magic)]) != magic || ch[len(magic)] != version {
		return fmt.Errorf("%w: the server does not run firefly's authentication exchange (version 1)", ErrFailed)
	}
	ns := ch[len(magic)+1 : len(magic)+1+nonceLen]
	ps := ch[len(magic)+1+nonceLen:]
	if !hmac.Equal(ps, mac(secret, "server", identity, nc, ns)) {
		return fmt.Errorf("%w: the server did not prove it holds the secret of %q", ErrFailed, identity)
	}
	if _, err := conn.Write(mac(secret, "client", identity, nc, ns)); err != nil {
		return ioError(lost, "sending the proof", err)
	}
	var verdict [1]byte
	if _, err := io.ReadFull(conn, verdict[:]); err != nil {
		return ioError(lost, "reading the verdict", err)
	}
	if verdict[0] != accepted {
		return fmt.Errorf("%w: refused by the server", ErrFailed)
	}
	return nil
}

// Server runs the accepting side of the exchange on conn and returns the
// identity the peer proved, whose secret keyring gives. An identity the keyring does not know goes
// through the same steps as a known one, with a random secret, so the peer
// cannot tell the two apart.
func Server(conn net.Conn, keyring func(identity string) (secret []byte, ok bool), lost error) (string, error) {
	var head [helloHead]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return "", ioError(lost, "reading the hello", err)
	}
	if string(head[:len(magic)]) != magic {
		return "", fmt.Errorf("%w: the peer did not authenticate (first bytes %q)", ErrFailed, head[:])
	}
	if v := head[len(magic)]; v != version {
		return "", fmt.Errorf("%w: unsupported version %d", ErrFailed, v)
	}
	rest := make([]byte, int(head[helloHead-1])+nonceLen)
	if _, err := io.ReadFull(conn, rest); err != nil {
		return "", ioError(lost, "reading the hello", err)
	}
	identity := string(rest[:len(rest)-nonceLen])
	nc := rest[len(rest)-nonceLen:]
	secret, known := keyring(identity)
	if !known || len(secret) == 0 {
		known = false
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	ch := make([]byte, 0, challengeLen)
	ch = append(ch, magic...)
	ch = append(ch, version)
	ch = append(ch, make([]byte, nonceLen)...)
	ns := ch[len(ch)-nonceLen:]
	rand.Read(ns)
	ch = append(ch, mac(secret, "server", identity, nc, ns)...)
	if _, err := conn.Write(ch); err != nil {
		return "", ioError(lost, "sending the challenge", err)
	}
	var pc [macLen]byte
	if _, err := io.ReadFull(conn, pc[:]); err != nil {
		if !known {
			return "", fmt.Errorf("%w: unknown identity %q", ErrFailed, identity)
		}
		return "", fmt.Errorf("%w: identity %q gave no proof (a wrong secret on its side?): %w", ErrFailed, identity, ioError(lost, "reading the proof", err))
	}
	good := hmac.Equal(pc[:], mac(secret, "client", identity, nc, ns))
	if !good || !known {
		conn.Write([]byte{refused})
		if !known {
			return "", fmt.Errorf("%w: unknown identity %q", ErrFailed, identity)
		}
		return "", fmt.Errorf("%w: identity %q gave a wrong proof", ErrFailed, identity)
	}
	if _, err := conn.Write([]byte{accepted}); err != nil {
		return "", ioError(lost, "sending the verdict", err)
	}
	return identity, nil
}

// ioError wraps an I/O failure during the exchange: it matches ErrFailed
// and what happened (lost for a closed connection,
// transport.ErrHandshakeTimeout once the deadline passed).
func ioError(lost error, step string, err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s: %w", ErrFailed, step, transport.ErrHandshakeTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %s: %w: %w", ErrFailed, step, lost, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrFailed, step, err)
}
