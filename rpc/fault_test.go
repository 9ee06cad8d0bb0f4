package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// TestFaultBlackHoleFailsPendingCalls: when the network swallows everything,
// a pending call fails with ErrConnectionLost within twice the keepalive
// timeout, on both sides.
func TestFaultBlackHoleFailsPendingCalls(t *testing.T) {
	ka := testutil.FastKeepalive()
	srv, addr := secServe(t, &secRoot{}, rpc.WithTransportConfig(ka))
	p := testutil.FaultProxy(t, addr)
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", p.Addr(), rpc.WithTransportConfig(ka))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := c.Root().Go(ctx, "sleep", nil, nil, 60_000)
	testutil.Eventually(t, "the handler to run", func() bool {
		cs := srv.Conns()
		return len(cs) == 1 && cs[0].Stats().Handlers == 1
	})
	sc := srv.Conns()[0]
	p.SetMode(faultproxy.BlackHole)
	start := time.Now()
	<-call.Done
	if d := time.Since(start); d > 2*ka.KeepAliveTimeout {
		t.Errorf("the pending call failed after %v, more than twice the keepalive timeout %v", d, ka.KeepAliveTimeout)
	}
	if !errors.Is(call.Error, rpc.ErrConnectionLost) {
		t.Fatalf("pending call: %v, want ErrConnectionLost", call.Error)
	}
	select {
	case <-sc.Done():
	case <-time.After(4 * ka.KeepAliveTimeout):
		t.Fatal("the server side did not notice the dead link")
	}
	if sc.Stats().Handlers != 0 {
		testutil.Eventually(t, "the handler to be cancelled", func() bool { return sc.Stats().Handlers == 0 })
	}
	if err := c.Root().Call(ctx, "echo", nil, 1); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("a call after the loss: %v, want ErrConnectionLost", err)
	}
}

// TestFaultCutMidFrame: a link cut in the middle of a large reply fails the
// pending call at once; a new connection is served.
func TestFaultCutMidFrame(t *testing.T) {
	srv, addr := secServe(t, &secRoot{})
	p := testutil.FaultProxy(t, addr)
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Root().Call(ctx, "echo", nil, 1); err != nil {
		t.Fatal(err)
	}
	p.CutAfter(5000) // inside the second 16 KiB frame of the reply
	start := time.Now()
	var blob []byte
	err = c.Root().Call(ctx, "blob", &blob, 1<<20)
	if !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("a call whose reply was cut: %v, want ErrConnectionLost", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cut was noticed after %v", d)
	}
	testutil.Eventually(t, "the server to drop the connection", func() bool { return len(srv.Conns()) == 0 })
	mustEcho(t, p.Addr())
}

// TestFaultDelay: calls and a large transfer pass a slow link, and a deadline
// shorter than the link's delay fails the call with DeadlineExceeded.
func TestFaultDelay(t *testing.T) {
	_, addr := secServe(t, &secRoot{})
	p := testutil.FaultProxy(t, addr)
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.SetDelay(20 * time.Millisecond)
	var blob []byte
	if err := c.Root().Call(ctx, "blob", &blob, 256<<10); err != nil || len(blob) != 256<<10 {
		t.Fatalf("a large reply over a slow link: %d bytes, %v", len(blob), err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := c.Root().Call(short, "echo", nil, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call shorter than the link's delay: %v, want DeadlineExceeded", err)
	}
	p.SetMode(faultproxy.Pass)
	if err := c.Root().Call(ctx, "echo", nil, 1); err != nil {
		t.Fatalf("the connection did not survive the slow link: %v", err)
	}
}
