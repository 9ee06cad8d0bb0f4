package firefly_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	netrpc "net/rpc"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// Args is the small-call payload, the same for firefly and net/rpc.
type Args struct{ A, B int }

// Service is firefly's side of the benchmarks and end-to-end tests.
type Service struct{}

func (Service) RemoteAdd(a Args) int { return a.A + a.B }

func (Service) RemoteEcho(b []byte) []byte { return b }

// RemoteSum takes built-in scalars of every width, as Firefly's commands
// (command id, session id, flags) do.
func (Service) RemoteSum(a uint32, b uint64, c int, d bool) int {
	if d {
		return int(a) + int(b) + c
	}
	return 0
}

// RemoteNone takes nothing, for comparison with RemoteSum.
func (Service) RemoteNone() int { return 6 }

// RemoteCallBack calls add on the reference it was given.
func (Service) RemoteCallBack(ctx context.Context, r *rpc.Ref, a Args) (int, error) {
	var n int
	err := r.Call(ctx, "add", &n, a)
	return n, err
}

// RemoteCallRoot calls add on the caller's root: a callback with no
// reference passed.
func (Service) RemoteCallRoot(ctx context.Context, a Args) (int, error) {
	var n int
	c, _ := rpc.ConnFromContext(ctx)
	err := c.Root().Call(ctx, "add", &n, a)
	return n, err
}

// Adder is a referenceable the client passes to the server.
type Adder struct{ rpc.Referenceable }

func (*Adder) RemoteAdd(a Args) int { return a.A + a.B }

// Arith is net/rpc's side of the benchmarks.
type Arith struct{}

func (Arith) Add(a *Args, reply *int) error { *reply = a.A + a.B; return nil }

func (Arith) Echo(b []byte, reply *[]byte) error { *reply = b; return nil }

// reportCPU reports the process's CPU time per call since cpu0, client and
// server together: unlike the calls per second, it does not depend on the
// share of the cores other processes take. Where processCPU cannot tell, it
// reports nothing.
func reportCPU(b *testing.B, cpu0 time.Duration, calls int) {
	if cpu := processCPU(b); cpu > 0 {
		b.ReportMetric(float64(cpu-cpu0)/float64(calls), "cpu-ns/call")
	}
}

// listen returns a loopback listener closed at the end of the test.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// firefly starts a firefly server offering Service and dials it.
func firefly(tb testing.TB, opts ...rpc.Option) *rpc.Conn {
	tb.Helper()
	return dialServer(tb, Service{}, opts...)
}

// dialServer starts a firefly server of root and dials it with opts; the
// test's cleanup closes both.
func dialServer(tb testing.TB, root any, opts ...rpc.Option) *rpc.Conn {
	tb.Helper()
	srv, err := rpc.NewServer(root)
	if err != nil {
		tb.Fatal(err)
	}
	ln := listen(tb)
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String(), opts...)
	if err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(); srv.Close() })
	return conn
}

// netRPC starts a net/rpc server offering Arith and dials it.
func netRPC(tb testing.TB) *netrpc.Client {
	tb.Helper()
	srv := netrpc.NewServer()
	if err := srv.RegisterName("Arith", Arith{}); err != nil {
		tb.Fatal(err)
	}
	ln := listen(tb)
	go func() { // srv.Accept would log the listener's close
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(c)
		}
	}()
	client, err := netrpc.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	return client
}

// Two and One are the seed's example.
type One struct{ got chan string }

func (o *One) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) error {
	o.got <- "received a Two"
	return two.Call(ctx, "print", nil, 12)
}

type Two struct {
	rpc.Referenceable
	printed chan int
}

func (t *Two) RemotePrint(arg int) { t.printed <- arg }

func TestSeedExample(t *testing.T) {
	one := &One{got: make(chan string, 1)}
	srv, err := rpc.NewServer(one)
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	two := &Two{printed: make(chan int, 1)}
	if err := conn.Root().Call(ctx, "takeTwo", nil, two); err != nil {
		t.Fatal(err)
	}
	if got := <-one.got; got != "received a Two" {
		t.Fatalf("One got %q", got)
	}
	if got := <-two.printed; got != 12 {
		t.Fatalf("Two.print() called with %d, want 12", got)
	}
}

func TestEndToEnd(t *testing.T) {
	conn := firefly(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, Args{20, 22}); err != nil || sum != 42 {
		t.Fatalf("add = %d, %v", sum, err)
	}
	payload := bytes.Repeat([]byte("firefly"), 1<<17)
	var echo []byte
	if err := conn.Root().Call(ctx, "echo", &echo, payload); err != nil || !bytes.Equal(echo, payload) {
		t.Fatalf("echo of %d bytes: got %d bytes, %v", len(payload), len(echo), err)
	}
	if err := conn.Root().Call(ctx, "callBack", &sum, &Adder{}, Args{1, 2}); err != nil || sum != 3 {
		t.Fatalf("callBack = %d, %v", sum, err)
	}
	if err := conn.Root().Call(ctx, "nope", nil); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("unknown method = %v", err)
	}
	conn.Close()
	if err := conn.Root().Call(ctx, "add", &sum, Args{}); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call after Close = %v", err)
	}
}

func BenchmarkCallSeq(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{i, 1}); err != nil || n != i+1 {
			b.Fatalf("add = %d, %v", n, err)
		}
	}
}

// BenchmarkCallSeqDeadline is CallSeq made with a context that has a
// deadline, as a request's: each call carries its timeout, and the caller
// waits on a context that can end.
func BenchmarkCallSeqDeadline(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{i, 1}); err != nil || n != i+1 {
			b.Fatalf("add = %d, %v", n, err)
		}
	}
}

func BenchmarkNetRPCCallSeq(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	client := netRPC(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var n int
		if err := client.Call("Arith.Add", &Args{i, 1}, &n); err != nil || n != i+1 {
			b.Fatalf("add = %d, %v", n, err)
		}
	}
}

// BenchmarkCallParallel: 64 goroutines call add on one connection, each in
// a loop (the throughput goal P2 compares with net/rpc's and the peers').
func BenchmarkCallParallel(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	fireflyAdds(b, 64)
}

// BenchmarkNetRPCCallParallel is BenchmarkCallParallel on net/rpc.
func BenchmarkNetRPCCallParallel(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	netRPCAdds(b, 64)
}

// BenchmarkCallParallelOneProcessor is BenchmarkCallParallel with one
// processor (GOMAXPROCS 1 while it runs): the work of a call, client and
// server together, with nothing of what passing it between processors costs
// (waking an idle one, moving the cache lines of the connection's state).
// Beside BenchmarkNetRPCCallParallelOneProcessor it is P2's ratio on one
// processor, which says how much of the ratio on two is the systems' own
// work and how much the second processor adds to each.
func BenchmarkCallParallelOneProcessor(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	oneProcessor(b)
	fireflyAdds(b, 64)
}

// BenchmarkNetRPCCallParallelOneProcessor is BenchmarkNetRPCCallParallel
// with one processor.
func BenchmarkNetRPCCallParallelOneProcessor(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	oneProcessor(b)
	netRPCAdds(b, 64)
}

// oneProcessor sets GOMAXPROCS to 1 until b ends.
func oneProcessor(b *testing.B) {
	n := runtime.GOMAXPROCS(1)
	b.Cleanup(func() { runtime.GOMAXPROCS(n) })
}

// BenchmarkCall10kParallel is BenchmarkCallParallel with 10,000 callers
// instead of 64: as many goroutines, each calling in a loop, share one
// connection (its MaxHandlers credits make the rest wait their turn). Beside
// BenchmarkCall10kCallers' bursts of new goroutines, it is the like-for-like
// counterpart of the 64-caller figure.
func BenchmarkCall10kParallel(b *testing.B) { fireflyAdds(b, 10000) }

// BenchmarkNetRPCCall10kParallel is BenchmarkCall10kParallel on net/rpc.
func BenchmarkNetRPCCall10kParallel(b *testing.B) { netRPCAdds(b, 10000) }

func fireflyAdds(b *testing.B, callers int) {
	conn := firefly(b)
	ctx := context.Background()
	add := func(n *int) error { return conn.Root().Call(ctx, "add", n, Args{1, 2}) }
	parallelAdds(b, callers, func() func(*int) error { return add })
}

func netRPCAdds(b *testing.B, callers int) {
	client := netRPC(b)
	add := func(n *int) error { return client.Call("Arith.Add", &Args{1, 2}, n) }
	parallelAdds(b, callers, func() func(*int) error { return add })
}

// parallelAdds runs add(1, 2) from callers goroutines (rounded up to a
// multiple of GOMAXPROCS), each calling in a loop with the add function
// caller returns it, and checks that every call was answered with 3; it
// reports the CPU time per call.
func parallelAdds(b *testing.B, callers int, caller func() func(n *int) error) {
	b.ReportAllocs()
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var calls atomic.Int64
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		add := caller()
		for pb.Next() {
			var n int
			if err := add(&n); err != nil || n != 3 {
				b.Errorf("add = %d, %v", n, err)
				return
			}
			calls.Add(1)
		}
	})
	if got := calls.Load(); got != int64(b.N) {
		b.Fatalf("%d of %d calls answered", got, b.N)
	}
	reportCPU(b, cpu0, b.N)
}

// BenchmarkCallback: the server calls back a reference the client passed,
// inside the client's call (two round trips per operation).
func BenchmarkCallback(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	ctx := context.Background()
	adder := &Adder{}
	b.ReportAllocs()
	for b.Loop() {
		var n int
		if err := conn.Root().Call(ctx, "callBack", &n, adder, Args{1, 2}); err != nil || n != 3 {
			b.Fatalf("callBack = %d, %v", n, err)
		}
	}
}

// BenchmarkCallbackPair makes a CallSeq call and a Callback call alternately
// in one loop, timing each, so that both see the same moment of the machine,
// and reports each one's median and the ratio of the medians. Separate
// benchmarks run seconds apart, and their ratio moves with the machine. Two
// more steps of the loop show what a callback's two round trips cost without
// the callback: two CallSeq calls in a row (twice-ratio), and a callback to
// the client's root, with no reference passed (root-ratio). It also reports
// the two shapes' 90th percentiles and the ratio of their means (what the
// separate benchmarks' ns/op compare), which the slow tail of each moves.
func BenchmarkCallbackPair(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	adder := &Adder{}
	conn := firefly(b, rpc.WithRoot(adder))
	ctx := context.Background()
	add := func(method string, args ...any) func() error {
		return func() error {
			var n int
			if err := conn.Root().Call(ctx, method, &n, args...); err != nil || n != 3 {
				return fmt.Errorf("%s = %d, %v", method, n, err)
			}
			return nil
		}
	}
	seq, callback := add("add", Args{1, 2}), add("callBack", adder, Args{1, 2})
	twice := func() error {
		if err := seq(); err != nil {
			return err
		}
		return seq()
	}
	p50, p90, mean := alternate(b, seq, callback, twice, add("callRoot", Args{1, 2}))
	b.ReportMetric(p50[0], "seq-p50-ns")
	b.ReportMetric(p50[1], "callback-p50-ns")
	b.ReportMetric(p50[1]/p50[0], "ratio")
	b.ReportMetric(p50[2]/p50[0], "twice-ratio")
	b.ReportMetric(p50[3]/p50[0], "root-ratio")
	b.ReportMetric(p90[0], "seq-p90-ns")
	b.ReportMetric(p90[1], "callback-p90-ns")
	b.ReportMetric(mean[1]/mean[0], "mean-ratio")
}

// alternate runs the steps in turn, each once an iteration, timing each,
// and returns each step's median, 90th percentile and mean time in
// nanoseconds.
func alternate(b *testing.B, steps ...func() error) (p50, p90, mean []float64) {
	times := make([][]time.Duration, len(steps))
	for b.Loop() {
		for i, step := range steps {
			t0 := time.Now()
			if err := step(); err != nil {
				b.Fatalf("step %d: %v", i, err)
			}
			times[i] = append(times[i], time.Since(t0))
		}
	}
	p50 = make([]float64, len(times))
	p90 = make([]float64, len(times))
	mean = make([]float64, len(times))
	for i, ts := range times {
		slices.Sort(ts)
		p50[i] = float64(ts[len(ts)/2])
		p90[i] = float64(ts[len(ts)*9/10])
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		mean[i] = float64(sum) / float64(len(ts))
	}
	return p50, p90, mean
}
