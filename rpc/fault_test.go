package rpc_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// fastKeepalive declares a silent peer dead after 500 ms.
func fastKeepalive() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 100 * time.Millisecond
	cfg.KeepAliveTimeout = 500 * time.Millisecond
	return cfg
}

// newFaultProxy starts a proxy in front of addr, closed with the test.
func newFaultProxy(t *testing.T, addr string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// settled returns the goroutine count once it has stopped changing.
func settled() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(5 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// noLeaks fails the test if more goroutines than before run once they settle.
func noLeaks(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestFaultBlackHoleFailsPendingCalls: when the network swallows everything,
// a pending call fails with ErrConnectionLost within twice the keepalive
// timeout, on both sides.
func TestFaultBlackHoleFailsPendingCalls(t *testing.T) {
	ka := fastKeepalive()
	srv, addr := secServe(t, &secRoot{}, rpc.WithTransportConfig(ka))
	p := newFaultProxy(t, addr)
	ctx := secCtx(t)
	c, err := rpc.Dial(ctx, "tcp", p.Addr(), rpc.WithTransportConfig(ka))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := c.Root().Go(ctx, "sleep", nil, nil, 60_000)
	waitCond(t, "the handler to run", func() bool {
		cs := srv.Conns()
		return len(cs) == 1 && cs[0].Stats().RunningHandlers == 1
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
	if sc.Stats().RunningHandlers != 0 {
		waitCond(t, "the handler to be cancelled", func() bool { return sc.Stats().RunningHandlers == 0 })
	}
	if err := c.Root().Call(ctx, "echo", nil, 1); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("a call after the loss: %v, want ErrConnectionLost", err)
	}
}

// TestFaultCutMidFrame: a link cut in the middle of a large reply fails the
// pending call at once; a new connection is served.
func TestFaultCutMidFrame(t *testing.T) {
	srv, addr := secServe(t, &secRoot{})
	p := newFaultProxy(t, addr)
	ctx := secCtx(t)
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
	waitCond(t, "the server to drop the connection", func() bool { return len(srv.Conns()) == 0 })
	mustEcho(t, p.Addr())
}

// TestFaultDelay: calls and a large transfer pass a slow link, and a deadline
// shorter than the link's delay fails the call with DeadlineExceeded.
func TestFaultDelay(t *testing.T) {
	_, addr := secServe(t, &secRoot{})
	p := newFaultProxy(t, addr)
	ctx := secCtx(t)
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

// TestFaultNodeReconnects: a node behind a faulty link reconnects by itself
// after its connection is dropped, refused for a while and black-holed, and
// no goroutine is left once everything is closed.
func TestFaultNodeReconnects(t *testing.T) {
	before := settled()
	ka := fastKeepalive()
	root, err := rpc.NewRoot(rpc.WithServerOptions(rpc.WithTransportConfig(ka)))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Service().Map("ping", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		root.Serve(ln)
	}()
	p, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := secCtx(t)
	n := rpc.NewNode("game-1",
		rpc.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		rpc.WithDialTimeout(time.Second),
		rpc.WithDialOptions(rpc.WithTransportConfig(ka)))
	var mu sync.Mutex
	connects, losses := 0, 0
	n.OnConnect(func(*rpc.Conn) { mu.Lock(); connects++; mu.Unlock() })
	n.OnDisconnect(func(error) { mu.Lock(); losses++; mu.Unlock() })
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return connects, losses }
	if err := n.Connect(ctx, p.Addr()); err != nil {
		t.Fatal(err)
	}
	ping := func() {
		t.Helper()
		if err := n.CallRemote(ctx, "ping", nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	ping()

	// Dropped, and refused for a while.
	p.SetMode(faultproxy.Refuse)
	p.DropAll()
	waitCond(t, "the node to notice the drop", func() bool { _, l := count(); return l == 1 })
	if err := n.CallRemote(ctx, "ping", nil); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("a call while disconnected: %v, want ErrConnectionLost", err)
	}
	time.Sleep(200 * time.Millisecond) // a few refused attempts
	p.SetMode(faultproxy.Pass)
	waitCond(t, "the node to reconnect", func() bool { c, _ := count(); return c == 2 && n.Connected() })
	ping()

	// Black-holed: keepalive notices, the node reconnects once the link is
	// back.
	p.SetMode(faultproxy.BlackHole)
	waitCond(t, "the node to notice the black hole", func() bool { _, l := count(); return l == 2 })
	p.SetMode(faultproxy.Pass)
	waitCond(t, "the node to reconnect", func() bool { c, _ := count(); return c == 3 && n.Connected() })
	ping()
	waitCond(t, "the root to see one child", func() bool { return len(root.Children()) == 1 })

	n.Close()
	root.Close()
	<-served
	p.Close()
	noLeaks(t, before)
}

// waitCond polls cond until it holds or 10 s pass.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
