package rpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

func TestNoRoot(t *testing.T) {
	_, conn := pair(t, nil, nil)
	if err := conn.Root().Call(testutil.Context(t), "add", nil); !errors.Is(err, rpc.ErrNoSuchObject) {
		t.Fatalf("call on a missing root = %v, want ErrNoSuchObject", err)
	}
}

func TestGoroutinesBackToBaseline(t *testing.T) {
	base := testutil.Settled()
	func() {
		srv, err := rpc.NewServer(newCalc())
		if err != nil {
			t.Fatal(err)
		}
		_, conn := pairWith(t, srv)
		ctx := testutil.Context(t)
		two := newTwo()
		for i := range 20 {
			if err := conn.Root().Call(ctx, "callBack", nil, two, i); err != nil {
				t.Fatal(err)
			}
			<-two.got
		}
		conn.Close()
		srv.Close()
	}()
	if n := testutil.Settled(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestShutdownLetsRunningCallsFinish(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	ctx := testutil.Context(t)
	errc := make(chan error, 1)
	go func() { errc <- conn.Root().Call(ctx, "block", nil) }()
	<-calc.started
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	// New calls are refused with a clear error while the old one runs. (A
	// call that races the GOAWAY on a lane the server never accepted is only
	// failed when the server closes; the short timeout moves past it.)
	testutil.Eventually(t, "new calls to be refused", func() bool {
		actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		return errors.Is(conn.Root().Call(actx, "add", nil, Args{1, 2}), rpc.ErrShutdown)
	})
	close(calc.release)
	if err := <-errc; err != nil {
		t.Fatalf("in-flight call = %v, want success", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after Shutdown")
	}
}

func TestShutdownDeadline(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	defer close(calc.release)
	errc := make(chan error, 1)
	go func() { errc <- conn.Root().Call(testutil.Context(t), "block", nil) }()
	<-calc.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline = %v", err)
	}
	if err := <-errc; !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call cut by Shutdown = %v, want ErrConnectionLost", err)
	}
}

func TestIntrospection(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithIntrospection(true)})
	ms, err := conn.Root().Methods(testutil.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	var add *rpc.MethodInfo
	for i := range ms {
		if ms[i].Name == "Add" {
			add = &ms[i]
		}
	}
	if add == nil || len(add.Params) != 1 || add.Params[0] != "rpc_test.Args" || add.Result != "int" || add.Error {
		t.Fatalf("Add described as %+v in %d methods", add, len(ms))
	}
	pt := add.ParamTypes[0]
	if pt.Kind != "struct" || len(pt.Fields) != 2 || pt.Fields[0].Name != "A" || pt.Fields[1].Type.Kind != "int" || add.ResultType.Kind != "int" {
		t.Fatalf("Add's types described as %+v -> %+v", pt, add.ResultType)
	}
	for _, m := range ms {
		if m.Name == "Sum" && (len(m.Params) != 1 || m.Params[0] != "...int") {
			t.Fatalf("Sum described as %+v", m)
		}
	}
}

func TestIntrospectionOffByDefault(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	if _, err := conn.Root().Methods(testutil.Context(t)); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("introspection without the option = %v, want ErrNoSuchMethod", err)
	}
}

func TestServerStats(t *testing.T) {
	srv, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
	for range 3 {
		if err := conn.Root().Call(ctx, "add", nil, Args{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Root().Call(ctx, "nope", nil)
	conn.Root().Call(ctx, "div", nil, Args{1, 0})
	conn.Root().Call(ctx, "panic", nil)
	if err := conn.Root().Call(ctx, "keep", nil, newTwo()); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Conns != 1 || st.ConnsTotal != 1 || st.CallsIn != 7 || st.Exports != 0 {
		t.Fatalf("server stats %+v", st)
	}
	want := map[string]uint64{"no_such_method": 1, "handler": 1, "panic": 1}
	for k, v := range want {
		if st.Errors[k] != v {
			t.Fatalf("errors %v, want %v", st.Errors, want)
		}
	}
	if st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("no traffic counted: %+v", st)
	}
	ct := conn.Stats()
	if ct.CallsOut != 7 || ct.Exports != 1 || ct.BytesOut < st.BytesIn {
		t.Fatalf("client totals %+v (server read %d bytes)", ct, st.BytesIn)
	}
	conn.Close()
	testutil.Eventually(t, "the server to count the connection closed", func() bool { return srv.Stats().Conns == 0 })
}

func TestCallStuckWritingHonoursItsContext(t *testing.T) {
	// A peer that completes the transport handshake and accepts streams
	// but never reads them: the call's write stalls on flow control.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		sess, err := transport.Server(context.Background(), nc, nil)
		if err != nil {
			return
		}
		defer sess.Close()
		// It announces its limits, so that calls are sent to it.
		if st, err := sess.Open(context.Background()); err == nil {
			st.Write(append([]byte{'L'}, settingsMsg(1024)...))
		}
		for {
			if _, err := sess.Accept(context.Background()); err != nil {
				return
			}
		}
	}()
	conn, err := rpc.Dial(testutil.Context(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(testutil.Context(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = conn.Root().Call(ctx, "echo", nil, make([]byte, 8<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled call = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stalled call returned after %v", d)
	}
}

// Handler goroutines left idle after a burst are let go after a while.
func TestIdleWorkersAreLetGo(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx := testutil.Context(t)
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, Args{1, 2}); err != nil {
		t.Fatal(err)
	}
	before := testutil.Settled()
	const burst = 20
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			if err := conn.Root().Call(ctx, "block", nil); err != nil {
				t.Error(err)
			}
		})
	}
	for range burst {
		<-calc.started
	}
	busy := runtime.NumGoroutine()
	close(calc.release)
	wg.Wait()
	// Each blocked call holds a caller and a handler goroutine; one handler
	// may be the idle one left by the first call. A lane's reading goroutine
	// comes and goes with the traffic (see inLane): allow for those of the
	// lanes the first call used, one or two per side.
	if busy < before+2*burst-1-4 {
		t.Fatalf("%d goroutines with %d calls blocked, %d before", busy, burst, before)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 10 s after the burst, %d before it", runtime.NumGoroutine(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acceptSignal is a listener that reports each connection it accepts.
type acceptSignal struct {
	net.Listener
	accepted chan struct{}
}

func (l *acceptSignal) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return nc, err
}

// TestCloseEndsHandshakesInProgress: Close closes a connection still in its
// handshake (a peer that connected and sends nothing) at once, rather than
// waiting out the handshake timeout.
func TestCloseEndsHandshakesInProgress(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.HandshakeTimeout = time.Minute
	srv, err := rpc.NewServer(newCalc(), rpc.WithTransportConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &acceptSignal{Listener: inner, accepted: make(chan struct{}, 1)}
	go srv.Serve(ln)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	<-ln.accepted
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits, 10s on, for a connection in its handshake")
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	// What the server wrote of its handshake, then the end.
	if _, err := io.Copy(io.Discard, nc); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the half-open connection was not closed by the server: %v", err)
	}
}
