package rpc_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

func TestIdleTimeout(t *testing.T) {
	// Generous, so that a loaded machine's pauses between the calls below
	// stay well inside it.
	const idle = 600 * time.Millisecond
	var log testutil.LogBuf
	srv, addr := secServe(t, &secRoot{}, rpc.WithIdleTimeout(idle), rpc.WithLogger(log.Logger()))
	ctx := testutil.Context(t)

	// Calls every idle/6 keep the connection; so does a call that runs for
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
		time.Sleep(idle / 6)
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
	log.WaitFor(t, "closing idle connection")
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

// blobRoot answers with one shared large slice, so that the memory the test
// sees is the broker's, not the handlers'.
type blobRoot struct {
	rpc.Referenceable
	blob []byte
}

func (r *blobRoot) RemoteBig() []byte                { return r.blob }
func (r *blobRoot) RemoteEcho(x int) int             { return x }
func (r *blobRoot) RemoteTake(b []byte) (int, error) { return len(b), nil }

// heapPeak samples HeapInuse until stop is closed and returns the largest
// value seen above base.
func heapPeak(stop <-chan struct{}) (peak <-chan uint64, base uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base = ms.HeapInuse
	out := make(chan uint64, 1)
	go func() {
		var max uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > max {
				max = ms.HeapInuse - base
			}
			select {
			case <-stop:
				out <- max
				return
			case <-tick.C:
			}
		}
	}()
	return out, base
}

// TestSlowReaderMemoryBounded floods a server with calls for 1 MiB replies
// from a peer that never reads them: the server's memory stays near its
// lanes and windows (large byte slices are even written from the handler's
// memory), and it closes the connection once the refusals of the calls it
// cannot take pile up.
func TestSlowReaderMemoryBounded(t *testing.T) {
	const limit = 48 << 20
	const handlers = 16
	var log testutil.LogBuf
	srv, addr := secServe(t, &blobRoot{blob: make([]byte, 1<<20)}, rpc.WithMaxHandlers(handlers), rpc.WithLogger(log.Logger()))
	ctx := testutil.Context(t)
	small := transport.DefaultConfig()
	small.InitialWindow = 64 << 10
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := transport.Client(ctx, nc, &small) // never accepts the server's lanes
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	stop := make(chan struct{})
	peak, base := heapPeak(stop)
	st, err := sess.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte{'L'})
	// As many calls as handlers: every handler is stuck answering, each
	// lane holds a 1 MiB reply and a window of it is queued.
	for i := range handlers {
		st.Write(callMsg(uint64(i+1), 0, "big"))
	}
	testutil.Eventually(t, "the handlers to be stuck", func() bool {
		cs := srv.Conns()
		return len(cs) == 1 && cs[0].Stats().Handlers == handlers
	})
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stuck := int64(ms.HeapInuse) - int64(base)
	// Then a flood: the refusals pile up and the server gives up.
	sent := handlers
	for ; sent < 5000; sent++ {
		if _, err := st.Write(callMsg(uint64(sent+1), 0, "big")); err != nil {
			break
		}
	}
	select {
	case <-sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a connection that does not read its answers")
	}
	close(stop)
	p := <-peak
	t.Logf("with %d replies of 1 MiB stuck, heap in use is %.1f MiB over the %.1f MiB before; %d calls sent in all; peak %.1f MiB over",
		handlers, float64(stuck)/(1<<20), float64(base)/(1<<20), sent, float64(p)/(1<<20))
	if stuck > limit || p > limit {
		t.Errorf("heap rose by %d MiB (peak %d MiB), limit %d MiB", stuck>>20, p>>20, limit>>20)
	}
	log.WaitFor(t, "control queue full")
	mustEcho(t, addr)
}

// TestStalledPeerMemoryBounded: a client sending 256 KiB arguments to a
// server that never reads them holds no more than its lanes and windows.
func TestStalledPeerMemoryBounded(t *testing.T) {
	const limit = 32 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	small := transport.DefaultConfig()
	small.InitialWindow = 64 << 10
	sessions := make(chan *transport.Session, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := transport.Server(context.Background(), nc, &small) // never accepts
		if err == nil {
			sessions <- s
		}
	}()
	ctx := testutil.Context(t)
	c, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srvSess := <-sessions
	defer srvSess.Close()

	stop := make(chan struct{})
	peak, base := heapPeak(stop)
	arg := make([]byte, 256<<10)
	callCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	returned := make(chan time.Duration, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			c.Root().Call(callCtx, "take", nil, arg)
			returned <- time.Since(start)
		}()
	}
	<-callCtx.Done()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	p := <-peak
	t.Logf("heap in use rose by at most %.1f MiB over %.1f MiB; %d of 64 calls returned by their deadline", float64(p)/(1<<20), float64(base)/(1<<20), len(returned))
	if p > limit {
		t.Errorf("heap rose by %d MiB, limit %d MiB", p>>20, limit>>20)
	}
	// The calls waiting for a lane return at their deadline. (A call whose
	// message is being written when the peer's window closes stays in the
	// write until the connection ends: at most one per lane.)
	if n := len(returned); n < 64-rpc.DefaultMaxLanes {
		t.Errorf("only %d of 64 calls returned by their deadline", n)
	}
	c.Close()
	wg.Wait()
}

// TestMaxHandshakes holds the server's handshake slots with peers that
// connect and say nothing: Serve accepts no one else until one of them goes,
// and then the next peer gets through.
func TestMaxHandshakes(t *testing.T) {
	if _, err := rpc.NewServer(nil, rpc.WithMaxHandshakes(0)); err == nil {
		t.Fatal("WithMaxHandshakes(0) was accepted")
	}
	var log testutil.LogBuf
	_, addr := secServe(t, &secRoot{}, rpc.WithMaxHandshakes(2), rpc.WithLogger(log.Logger()))
	var silent []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		silent = append(silent, nc)
	}
	log.WaitFor(t, "handshake limit reached")

	ctx, cancel := context.WithTimeout(testutil.Context(t), 300*time.Millisecond)
	defer cancel()
	if c, err := rpc.Dial(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatal("a peer got through while every handshake slot was held")
	}

	silent[0].Close()
	c, err := rpc.Dial(testutil.Context(t), "tcp", addr)
	if err != nil {
		t.Fatalf("dial after a slot was freed: %v", err)
	}
	defer c.Close()
	var n int
	if err := c.Root().Call(testutil.Context(t), "echo", &n, 7); err != nil || n != 7 {
		t.Fatalf("echo = %d, %v", n, err)
	}
}
