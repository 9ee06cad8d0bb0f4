package rpc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// pair starts a server offering root on loopback TCP and dials it, with
// clientOpts for the dialled side. Everything is closed at the end of the
// test.
func pair(t testing.TB, root any, serverOpts []rpc.Option, clientOpts ...rpc.Option) (*rpc.Server, *rpc.Conn) {
	t.Helper()
	srv, err := rpc.NewServer(root, serverOpts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String(), clientOpts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Close()
		<-served
	})
	return srv, conn
}

// serverConn waits for the server's side of the only connection.
func serverConn(t testing.TB, srv *rpc.Server) *rpc.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cs := srv.Conns(); len(cs) == 1 {
			return cs[0]
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("server has no connection")
	return nil
}

// pairWith serves srv on loopback and dials it; the caller closes both.
func pairWith(t testing.TB, srv *rpc.Server, clientOpts ...rpc.Option) (net.Listener, *rpc.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	conn, err := rpc.Dial(testutil.Context(t), "tcp", ln.Addr().String(), clientOpts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return ln, conn
}
