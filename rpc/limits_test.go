package rpc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	var log logBuf
	srv, addr := secServe(t, &secRoot{}, rpc.WithIdleTimeout(idle), rpc.WithLogger(log.logger()))
	ctx := secCtx(t)

	// Calls every idle/3 keep the connection; so does a call that runs for
	// 3 idle periods with nothing else on the wire.
	c, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 8 {
		if err := c.Root().Call(ctx, "echo", nil, 1); err != nil {
			t.Fatalf("a busy connection was closed: %v", err)
		}
		time.Sleep(idle / 3)
	}
	if err := c.Root().Call(ctx, "sleep", nil, int(3*idle/time.Millisecond)); err != nil {
		t.Fatalf("a connection with a long call running was closed: %v", err)
	}
	if len(srv.Conns()) != 1 {
		t.Fatal("the server lost the connection")
	}
	sc := srv.Conns()[0]

	// Silence closes it, with the reason on both sides.
	start := time.Now()
	select {
	case <-c.Done():
	case <-time.After(10 * idle):
		t.Fatal("an idle connection was not closed")
	}
	if d := time.Since(start); d < idle/2 {
		t.Errorf("closed after %v of silence, before the idle timeout %v", d, idle)
	}
	<-sc.Done()
	if err := sc.Err(); !errors.Is(err, rpc.ErrIdleTimeout) || !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("server side: %v, want ErrIdleTimeout and ErrConnectionLost", err)
	}
	if err := c.Err(); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("client side: %v, want ErrConnectionLost", err)
	}
	log.waitFor(t, "closing idle connection")
	t.Logf("client saw: %v", c.Err())

	// Keepalive pings are not calls.
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = idle / 10
	c2, err := rpc.Dial(ctx, "tcp", addr, rpc.WithTransportConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	select {
	case <-c2.Done():
	case <-time.After(10 * idle):
		t.Fatal("an idle connection was not closed")
	}
}
