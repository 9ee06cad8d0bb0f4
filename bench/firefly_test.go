package bench

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// fireflyService is firefly's root object: add and echo.
type fireflyService struct{}

func (fireflyService) RemoteAdd(a Args) int { return a.A + a.B }

func (fireflyService) RemoteEcho(b []byte) []byte { return b }

type fireflyClient struct{ conn *rpc.Conn }

func (c fireflyClient) Add(ctx context.Context, a Args) (int, error) {
	var n int
	err := c.conn.Root().Call(ctx, "add", &n, a)
	return n, err
}

func (c fireflyClient) Echo(ctx context.Context, p []byte) ([]byte, error) {
	var echo []byte
	err := c.conn.Root().Call(ctx, "echo", &echo, p)
	return echo, err
}

func startFirefly(tb testing.TB, ln net.Listener) client {
	tb.Helper()
	srv, err := rpc.NewServer(fireflyService{})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(); srv.Close() })
	return fireflyClient{conn}
}
