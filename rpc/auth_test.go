package rpc_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

func TestTLSPeerIdentity(t *testing.T) {
	pki := newTestPKI(t)
	_, addr := secServe(t, &secRoot{}, rpc.WithTLS(pki.serverConfig()))
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", addr, rpc.WithTLS(pki.clientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var who string
	if err := c.Root().Call(ctx, "who", &who); err != nil {
		t.Fatal(err)
	}
	if who != "node-a|true|true" {
		t.Errorf("the handler saw the caller as %q, want the client certificate's CN, verified, over TLS", who)
	}
	p := c.Peer()
	if p.Identity != "server" || !p.Verified || p.TLS == nil || p.Addr.String() != addr {
		t.Errorf("the client sees the server as %+v", p)
	}
	if _, ok := c.NetConn().(*tls.Conn); !ok {
		t.Errorf("NetConn is a %T, want *tls.Conn", c.NetConn())
	}
}

func TestTLSRefusals(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	var log testutil.LogBuf
	_, addr := secServe(t, &secRoot{}, rpc.WithTLS(pki.serverConfig()), rpc.WithLogger(log.Logger()))
	ctx := testutil.Context(t)

	// A client certificate from another authority.
	if c, err := rpc.Dial(ctx, "tcp", addr, rpc.WithTLS(other.clientConfig())); err == nil {
		// TLS 1.3 clients finish before the server checks their certificate:
		// the refusal arrives as the transport handshake fails.
		c.Close()
		t.Fatal("a client with a certificate from another CA was served")
	}
	log.WaitFor(t, "connection refused", "TLS handshake", "certificate")

	// A client that does not speak TLS.
	if c, err := rpc.Dial(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatal("a plain client was served by a TLS server")
	}
	// A server certificate the client does not trust.
	cfg := pki.clientConfig()
	cfg.RootCAs = other.pool
	if _, err := rpc.Dial(ctx, "tcp", addr, rpc.WithTLS(cfg)); err == nil {
		t.Fatal("the client accepted a server certificate from an unknown CA")
	}
	mustEcho(t, addr, rpc.WithTLS(pki.clientConfig()))
}

func TestSharedSecretPeerIdentity(t *testing.T) {
	keys := rpc.KeyringOf(map[string][]byte{"node-a": []byte("secret of a, long enough"), "node-b": []byte("secret of b, long enough")})
	_, addr := secServe(t, &secRoot{}, rpc.WithKeyring(keys))
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", addr, rpc.WithSharedSecret("node-b", []byte("secret of b, long enough")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var who string
	if err := c.Root().Call(ctx, "who", &who); err != nil {
		t.Fatal(err)
	}
	if who != "node-b|true|false" {
		t.Errorf("the handler saw the caller as %q", who)
	}
	if p := c.Peer(); p.Identity != "node-b" || !p.Verified || p.TLS != nil {
		t.Errorf("the client sees the server as %+v", p)
	}

	// With TLS too: the shared-secret identity wins, the TLS state is there.
	pki := newTestPKI(t)
	_, addr2 := secServe(t, &secRoot{}, rpc.WithKeyring(keys), rpc.WithTLS(pki.serverConfig()))
	c2, err := rpc.Dial(ctx, "tcp", addr2, rpc.WithTLS(pki.clientConfig()), rpc.WithSharedSecret("node-a", []byte("secret of a, long enough")))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Root().Call(ctx, "who", &who); err != nil {
		t.Fatal(err)
	}
	if who != "node-a|true|true" {
		t.Errorf("over TLS, the handler saw the caller as %q", who)
	}
}

func TestSharedSecretFailures(t *testing.T) {
	var log testutil.LogBuf
	keys := rpc.KeyringOf(map[string][]byte{"node-a": []byte("the right secret")})
	_, addr := secServe(t, &secRoot{}, rpc.WithKeyring(keys), rpc.WithLogger(log.Logger()))
	ctx := testutil.Context(t)

	dial := func(id, secret string) error {
		c, err := rpc.Dial(ctx, "tcp", addr, rpc.WithSharedSecret(id, []byte(secret)))
		if err == nil {
			c.Close()
		}
		return err
	}
	wrongSecret := dial("node-a", "a wrong secret")
	unknown := dial("node-x", "a wrong secret")
	for _, err := range []error{wrongSecret, unknown} {
		if !errors.Is(err, rpc.ErrAuthFailed) {
			t.Fatalf("err = %v, want ErrAuthFailed", err)
		}
	}
	// No oracle: the client cannot tell an unknown identity from a wrong
	// secret (the identity is part of the message, the rest is the same).
	if a, b := wrongSecret.Error(), unknown.Error(); a != `rpc: authentication failed: the server did not prove it holds the secret of "node-a"` ||
		b != `rpc: authentication failed: the server did not prove it holds the secret of "node-x"` {
		t.Errorf("client-side errors differ in more than the identity:\n%s\n%s", a, b)
	}
	// The server's log says which it was.
	log.WaitFor(t, `identity \"node-a\" gave no proof`, `unknown identity \"node-x\"`)

	// A server that does not hold the secret cannot pass itself off.
	_, fake := secServe(t, &secRoot{}, rpc.WithSharedSecret("node-a", []byte("not the secret")))
	c, err := rpc.Dial(ctx, "tcp", fake, rpc.WithSharedSecret("node-a", []byte("the right secret")))
	if !errors.Is(err, rpc.ErrAuthFailed) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dialling an impostor: %v, want ErrAuthFailed", err)
	}
	// A client that does not authenticate at all.
	if c, err := rpc.Dial(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatal("a client without the secret was served")
	}
	log.WaitFor(t, "the peer did not authenticate")
	// A client that authenticates to a server that does not expect it.
	_, plain := secServe(t, &secRoot{})
	if _, err := rpc.Dial(ctx, "tcp", plain, rpc.WithSharedSecret("node-a", []byte("the right secret"))); !errors.Is(err, rpc.ErrAuthFailed) {
		t.Fatalf("authenticating to a plain server: %v, want ErrAuthFailed", err)
	}
	mustEcho(t, addr, rpc.WithSharedSecret("node-a", []byte("the right secret")))
}

func TestSharedSecretOptionErrors(t *testing.T) {
	ctx := testutil.Context(t)
	if _, err := rpc.Dial(ctx, "tcp", "127.0.0.1:1", rpc.WithKeyring(rpc.KeyringOf(nil))); err == nil {
		t.Error("dialling with only a keyring should fail")
	}
	if _, err := rpc.Dial(ctx, "tcp", "127.0.0.1:1", rpc.WithSharedSecret("", []byte("x"))); err == nil {
		t.Error("an empty identity should fail")
	}
	if _, err := rpc.NewServer(nil, rpc.WithSharedSecret("a", nil)); err == nil {
		t.Error("an empty secret should fail")
	}
	if _, err := rpc.NewServer(nil, rpc.WithIdleTimeout(-time.Second)); err == nil {
		t.Error("a negative idle timeout should fail")
	}
}

// TestUnauthenticatedPeerCannotOpenStreams sends a transport preface and a
// stream to a server that requires the shared secret: it is refused before a
// single byte is answered.
func TestUnauthenticatedPeerCannotOpenStreams(t *testing.T) {
	var log testutil.LogBuf
	_, addr := secServe(t, &secRoot{}, rpc.WithSharedSecret("node-a", []byte("the right secret")), rpc.WithLogger(log.Logger()))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := testutil.Context(t)
	done := make(chan error, 1)
	go func() {
		_, err := transport.Client(ctx, nc, nil)
		done <- err
	}()
	// ErrConnectionLost: closed before the server sent a single byte.
	if err := <-done; !errors.Is(err, transport.ErrConnectionLost) {
		t.Fatalf("transport handshake without authentication: %v, want ErrConnectionLost", err)
	}
	log.WaitFor(t, "connection refused", "the peer did not authenticate")
}

// TestSilentPeersDropped connects and says nothing, to a plain, a TLS and a
// shared-secret server: each drops the connection after its handshake
// timeout, and says so.
func TestSilentPeersDropped(t *testing.T) {
	pki := newTestPKI(t)
	cfg := transport.DefaultConfig()
	cfg.HandshakeTimeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name string
		opt  rpc.Option
	}{
		{"plain", rpc.WithMaxLanes(rpc.DefaultMaxLanes)},
		{"tls", rpc.WithTLS(pki.serverConfig())},
		{"secret", rpc.WithSharedSecret("a", []byte("secret"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log testutil.LogBuf
			_, addr := secServe(t, &secRoot{}, tc.opt, rpc.WithTransportConfig(cfg), rpc.WithLogger(log.Logger()))
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			start := time.Now()
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, nc) // the plain server sends its preface first
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("a silent peer was dropped only after %v", d)
			}
			log.WaitFor(t, "connection refused", "handshake timed out")
		})
	}
}
