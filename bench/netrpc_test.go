package bench

import (
	"context"
	"io"
	"net"
	netrpc "net/rpc"
	"testing"

	"github.com/hashicorp/yamux"
)

// Arith is net/rpc's service: add and echo.
type Arith struct{}

func (Arith) Add(a *Args, reply *int) error { *reply = a.A + a.B; return nil }

func (Arith) Echo(b []byte, reply *[]byte) error { *reply = b; return nil }

// netRPCClient calls through a net/rpc client. net/rpc has no context: ctx
// is ignored, as it would be by a caller of net/rpc.
type netRPCClient struct{ c *netrpc.Client }

func (c netRPCClient) Add(_ context.Context, a Args) (int, error) {
	var n int
	err := c.c.Call("Arith.Add", &a, &n)
	return n, err
}

func (c netRPCClient) Echo(_ context.Context, p []byte) ([]byte, error) {
	var echo []byte
	err := c.c.Call("Arith.Echo", p, &echo)
	return echo, err
}

func newNetRPCServer(tb testing.TB) *netrpc.Server {
	tb.Helper()
	srv := netrpc.NewServer()
	if err := srv.RegisterName("Arith", Arith{}); err != nil {
		tb.Fatal(err)
	}
	return srv
}

// startNetRPC: net/rpc over one plain TCP connection.
func startNetRPC(tb testing.TB, ln net.Listener) client {
	tb.Helper()
	srv := newNetRPCServer(tb)
	go func() { // srv.Accept would log the listener's close
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(c)
		}
	}()
	c, err := netrpc.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return netRPCClient{c}
}

func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard // teardown would log the closed session
	return cfg
}

// startNetRPCYamux: one TCP connection carrying one yamux session; the
// net/rpc client runs on one yamux stream, which the server serves with
// ServeConn. Every caller shares that one stream, as they share the one TCP
// connection in the plain case, so the difference is yamux's framing and
// per-stream flow control (default 256 KiB window).
func startNetRPCYamux(tb testing.TB, ln net.Listener) client {
	tb.Helper()
	srv := newNetRPCServer(tb)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				sess, err := yamux.Server(c, yamuxConfig())
				if err != nil {
					c.Close()
					return
				}
				defer sess.Close()
				for {
					st, err := sess.Accept()
					if err != nil {
						return
					}
					go srv.ServeConn(st)
				}
			}(c)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	sess, err := yamux.Client(conn, yamuxConfig())
	if err != nil {
		conn.Close()
		tb.Fatal(err)
	}
	st, err := sess.Open()
	if err != nil {
		sess.Close()
		tb.Fatal(err)
	}
	c := netrpc.NewClient(st)
	tb.Cleanup(func() { c.Close(); sess.Close() })
	return netRPCClient{c}
}
