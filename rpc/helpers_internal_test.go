package rpc

import (
	"context"
	"net"
	"testing"
	"time"
)

// connPair serves root on a loopback listener, dials it with croot as the
// caller's root, and returns the server's side of the connection and the
// caller's. Both are closed when the test ends.
func connPair(t *testing.T, root, croot any) (server, client *Conn) {
	t.Helper()
	return connPairWith(t, root, croot)
}

// connPairWith is connPair with options for the server.
func connPairWith(t *testing.T, root, croot any, opts ...Option) (server, client *Conn) {
	t.Helper()
	return connPairOpts(t, root, opts, WithRoot(croot))
}

// connPairOpts is connPair with options for each side (the caller's root
// among the client's).
func connPairOpts(t *testing.T, root any, opts []Option, copts ...Option) (server, client *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := NewServer(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client, err = Dial(ctx, "tcp", ln.Addr().String(), copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	for server == nil {
		if cs := srv.Conns(); len(cs) == 1 {
			server = cs[0]
		}
		time.Sleep(time.Millisecond)
	}
	return server, client
}
