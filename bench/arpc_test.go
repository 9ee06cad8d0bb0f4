package bench

import (
	"context"
	"net"
	"testing"

	"github.com/lesismal/arpc"
	arpclog "github.com/lesismal/arpc/log"
)

// arpc logs every connect and, at error level, every disconnect; the
// teardown of each benchmark would fill the output with them.
func init() { arpclog.SetLevel(arpclog.LevelNone) }

type arpcClient struct{ c *arpc.Client }

func (c arpcClient) Add(ctx context.Context, a Args) (int, error) {
	var out []byte
	if err := c.c.CallWith(ctx, "/add", encodeArgs(a), &out); err != nil {
		return 0, err
	}
	return decodeInt(out)
}

func (c arpcClient) Echo(ctx context.Context, p []byte) ([]byte, error) {
	var out []byte
	err := c.c.CallWith(ctx, "/echo", p, &out)
	return out, err
}

// startARPC: one arpc client connection with arpc's defaults (handlers run
// on the connection's read loop, asynchronous batched writes). Bodies are
// raw bytes, the same as for gRPC.
func startARPC(tb testing.TB, ln net.Listener) client {
	tb.Helper()
	srv := arpc.NewServer()
	srv.Handler.Handle("/add", func(ctx *arpc.Context) {
		a, err := decodeArgs(ctx.Body())
		if err != nil {
			ctx.Error(err)
			return
		}
		ctx.Write(encodeInt(a.A + a.B))
	})
	srv.Handler.Handle("/echo", func(ctx *arpc.Context) {
		ctx.Write(ctx.Body()) // Write copies the body into the response
	})
	go srv.Serve(ln)
	addr := ln.Addr().String()
	c, err := arpc.NewClient(func() (net.Conn, error) { return net.Dial("tcp", addr) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Stop(); srv.Stop() })
	return arpcClient{c}
}
