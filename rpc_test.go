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
	"sync"
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

// Burst is the server of BenchmarkCallBurst: add of two ints, as a login
// storm calls it.
type Burst struct{}

func (Burst) RemoteAdd(a, b int) int { return a + b }

// BenchmarkCallBurst: in each iteration, 20,000 callers on one connection
// to a default server call add at once, and every call must be answered
// correctly. Past the server's handler limit the calls wait on the caller's
// side. It reports calls/s over the bursts.
func BenchmarkCallBurst(b *testing.B) { callBurst(b, 20000) }

// BenchmarkCall10kCallers is BenchmarkCallBurst with 10,000 callers, the
// figure compared with BenchmarkCallParallel's 64 callers.
func BenchmarkCall10kCallers(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	callBurst(b, 10000)
}

// BenchmarkNetRPCCall10kCallers is BenchmarkCall10kCallers on net/rpc: the
// same burst of freshly started callers on one connection, the peer's
// figure beside BenchmarkNetRPCCallParallel's.
func BenchmarkNetRPCCall10kCallers(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	client := netRPC(b)
	bursts(b, 10000, func(i int) (int, error) {
		var s int
		err := client.Call("Arith.Add", &Args{i, 1}, &s)
		return s, err
	})
}

// BenchmarkCall10kCallersRecord is BenchmarkCall10kCallers making the 64
// callers' own call: Service's add of an Args record, with a context that
// never ends, as BenchmarkCallParallel's. Its hang guard closes the
// connection instead, failing every call still waiting.
func BenchmarkCall10kCallersRecord(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	guard := time.AfterFunc(10*time.Minute, func() { conn.Close() })
	defer guard.Stop()
	ctx := context.Background()
	bursts(b, 10000, func(i int) (int, error) {
		var s int
		err := conn.Root().Call(ctx, "add", &s, Args{i, 1})
		return s, err
	})
}

func callBurst(b *testing.B, callers int) {
	conn := dialServer(b, Burst{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard
	defer cancel()
	bursts(b, callers, func(i int) (int, error) {
		var s int
		err := conn.Root().Call(ctx, "add", &s, i, 1)
		return s, err
	})
}

// BenchmarkCall10kCallersPair alternates, in one loop, a burst of 10,000
// freshly started callers (an iteration of BenchmarkCall10kCallers) and
// 10,000 calls made by 64 long-lived callers (BenchmarkCallParallel's
// shape, on a connection of its own), timing each, so that both see the
// same moment of the machine: separate benchmarks run seconds apart, and
// the ratio of their throughputs moves with the machine. Every answer is
// checked. It reports each shape's median throughput over the rounds and
// the ratio of the medians, the bursts' over the 64 callers'.
func BenchmarkCall10kCallersPair(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	callersPair(b, dialServer(b, Burst{}), firefly(b))
}

// callersPair is BenchmarkCall10kCallersPair's loop, the bursts calling
// Burst's add on bconn and the 64 callers Service's add on conn.
func callersPair(b *testing.B, bconn, conn *rpc.Conn) {
	const calls, callers64 = 10000, 64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard
	defer cancel()
	var failed, wrong atomic.Int64
	burstSum := func(i int) (int, error) {
		var s int
		err := bconn.Root().Call(ctx, "add", &s, i, 1)
		return s, err
	}
	// The 64 callers take a turn each from turns for a round, and call until
	// the round's calls are taken.
	var left atomic.Int64
	var round sync.WaitGroup
	turns := make(chan struct{})
	defer close(turns)
	for range callers64 {
		go func() {
			for range turns {
				for left.Add(-1) >= 0 {
					var n int
					if err := conn.Root().Call(context.Background(), "add", &n, Args{1, 2}); err != nil {
						failed.Add(1)
					} else if n != 3 {
						wrong.Add(1)
					}
				}
				round.Done()
			}
		}()
	}
	parallel := func() {
		left.Store(calls)
		round.Add(callers64)
		for range callers64 {
			turns <- struct{}{}
		}
		round.Wait()
	}
	var burstRates, parallelRates []float64
	timed := func(f func()) float64 {
		t0 := time.Now()
		f()
		return calls / time.Since(t0).Seconds()
	}
	for i := 0; b.Loop(); i++ {
		var br, pr float64
		if i%2 == 0 {
			br = timed(func() { burst(calls, burstSum, &failed, &wrong) })
			pr = timed(parallel)
		} else {
			pr = timed(parallel)
			br = timed(func() { burst(calls, burstSum, &failed, &wrong) })
		}
		burstRates, parallelRates = append(burstRates, br), append(parallelRates, pr)
	}
	if failed.Load() > 0 || wrong.Load() > 0 {
		b.Fatalf("%d calls failed, %d wrong sums", failed.Load(), wrong.Load())
	}
	bm, pm := medianOf(burstRates), medianOf(parallelRates)
	b.ReportMetric(bm, "bursts-calls/s")
	b.ReportMetric(pm, "64-calls/s")
	b.ReportMetric(bm/pm, "ratio")
}

// medianOf returns the median of xs, which it sorts.
func medianOf(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// bursts runs the loop of the 10,000 callers' bursts: in each iteration
// callers freshly started goroutines make one call each, caller i's sum(i)
// returning i+1 or an error, and every answer is checked. It reports calls/s
// over the bursts and the CPU time per call, and where a burst's time goes:
// the share of it spent before the first answer was in (first-share; the
// first of every tenth caller's, see burst) and before the first tenth of
// the answers was (tenth-share), the share the starting of the callers took
// (start-share), and the rate of the other nine tenths of the answers
// (rest-calls/s).
func bursts(b *testing.B, callers int, sum func(i int) (int, error)) {
	var failed, wrong atomic.Int64
	calls := 0
	var total, first, tenth, started time.Duration
	start, cpu0 := time.Now(), processCPU(b)
	for b.Loop() {
		p := burst(callers, sum, &failed, &wrong)
		total, first, tenth, started = total+p.total, first+p.first, tenth+p.tenth, started+p.started
		calls += callers
	}
	elapsed := time.Since(start)
	if failed.Load() > 0 || wrong.Load() > 0 {
		b.Fatalf("%d of %d calls failed, %d wrong sums", failed.Load(), calls, wrong.Load())
	}
	b.ReportMetric(float64(calls)/elapsed.Seconds(), "calls/s")
	reportCPU(b, cpu0, calls)
	b.ReportMetric(first.Seconds()/total.Seconds(), "first-share")
	b.ReportMetric(tenth.Seconds()/total.Seconds(), "tenth-share")
	b.ReportMetric(started.Seconds()/total.Seconds(), "start-share")
	b.ReportMetric(float64(calls-calls/10)/(total-tenth).Seconds(), "rest-calls/s")
}

// burstPhases is where one burst's time went: all of it, until the first
// answer and the first tenth of the answers were in, and until the last
// caller was started.
type burstPhases struct{ total, first, tenth, started time.Duration }

// burst starts callers goroutines, caller i making the one call sum(i),
// which must return i+1, and waits for them all; it counts the calls that
// failed and the wrong sums. Every tenth caller notes when its answer came,
// in a place of its own, so that the phases cost the burst no shared state:
// the first tenth of the answers is the first tenth of those.
func burst(callers int, sum func(i int) (int, error), failed, wrong *atomic.Int64) burstPhases {
	var wg sync.WaitGroup
	answered := make([]time.Duration, (callers+9)/10)
	t0 := time.Now()
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := sum(i); err != nil {
				failed.Add(1)
			} else if s != i+1 {
				wrong.Add(1)
			}
			if i%10 == 0 {
				answered[i/10] = time.Since(t0)
			}
		}()
	}
	started := time.Since(t0)
	wg.Wait()
	total := time.Since(t0)
	slices.Sort(answered)
	return burstPhases{total: total, first: answered[0], tenth: answered[len(answered)/10], started: started}
}

const mib = 1 << 20

func BenchmarkEcho1MiB(b *testing.B) {
	conn := firefly(b)
	ctx := context.Background()
	payload := make([]byte, mib)
	b.SetBytes(2 * mib) // there and back
	b.ReportAllocs()
	for b.Loop() {
		var echo []byte
		if err := conn.Root().Call(ctx, "echo", &echo, payload); err != nil || len(echo) != mib {
			b.Fatalf("echo: %d bytes, %v", len(echo), err)
		}
	}
}

func BenchmarkNetRPCEcho1MiB(b *testing.B) {
	client := netRPC(b)
	payload := make([]byte, mib)
	b.SetBytes(2 * mib)
	b.ReportAllocs()
	for b.Loop() {
		var echo []byte
		if err := client.Call("Arith.Echo", payload, &echo); err != nil || len(echo) != mib {
			b.Fatalf("echo: %d bytes, %v", len(echo), err)
		}
	}
}

// underBulk times small calls while another goroutine echoes 16 MiB
// messages on the same connection, and reports the latency percentiles.
func underBulk(b *testing.B, small func() error, bulk func(payload []byte) error) {
	payload := make([]byte, 16*mib)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var echoes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := bulk(payload); err != nil {
				b.Errorf("bulk echo: %v", err)
				return
			}
			echoes.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the bulk transfer get going
	lat := make([]time.Duration, 0, 1024)
	start0, echoes0 := time.Now(), echoes.Load()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := small(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	bulkBytes := float64(echoes.Load()-echoes0) * 2 * float64(len(payload))
	elapsed := time.Since(start0)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	// The bulk echoes' own throughput (there and back) meanwhile, counting
	// the echoes that ended while the small calls ran.
	b.ReportMetric(bulkBytes/1e6/elapsed.Seconds(), "bulk-MB/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Nanoseconds()), "p99-ns")
}

func BenchmarkCallUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	ctx := context.Background()
	underBulk(b, func() error {
		var n int
		return conn.Root().Call(ctx, "add", &n, Args{1, 2})
	}, func(p []byte) error {
		var echo []byte
		return conn.Root().Call(ctx, "echo", &echo, p)
	})
}

func BenchmarkNetRPCCallUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	client := netRPC(b)
	underBulk(b, func() error {
		var n int
		return client.Call("Arith.Add", &Args{1, 2}, &n)
	}, func(p []byte) error {
		var echo []byte
		return client.Call("Arith.Echo", p, &echo)
	})
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

// smallCall returns a small call on a fresh firefly connection: add(1, 2),
// checked.
func smallCall(t *testing.T) func() {
	conn := firefly(t)
	ctx := context.Background()
	return func() {
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{1, 2}); err != nil || n != 3 {
			t.Fatalf("add = %d, %v", n, err)
		}
	}
}

// TestCallAllocs: a small call allocates at most 3 times, client and server
// together, the caller's own reply variable included (BenchmarkCallSeq's
// argument, not a constant, costs its box besides). The other two are
// reflect.Value.Call's results; the server's state of a call whose handler
// takes no context is reused.
func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	call := smallCall(t)
	call()
	if got := testing.AllocsPerRun(2000, call); got > 3 {
		t.Fatalf("%.2f allocations per call, want at most 3", got)
	}
}

// TestCallAllocsBytes: a small call allocates at most 64 bytes, client and
// server together. An incoming call's decoded arguments live in a pooled
// frame, and the rest of its state, when its handler takes no context, in
// a pooled incall.
func TestCallAllocsBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	call := smallCall(t)
	for range 100 {
		call()
	}
	const calls = 5000
	got := allocatedPerCall(calls, func() {
		for range calls {
			call()
		}
	})
	if got > 64 {
		t.Fatalf("%.0f bytes allocated per call, want at most 64", got)
	}
}

// allocatedPerCall returns the bytes the process allocated while run made
// calls calls, per call.
func allocatedPerCall(calls int, run func()) float64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(calls)
}

// TestSharedContextCallsAllocs: two callers taking turns on one connection
// with one cancelable context allocate no more a call than a lone call does
// (TestCallAllocsBytes): the context's watch, made when their calls overlap,
// is kept between the overlaps instead of being made afresh at each.
func TestSharedContextCallsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	conn := firefly(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const calls = 4000
	loop := func(n int) error {
		for range n {
			var s int
			if err := conn.Root().Call(ctx, "add", &s, Args{1, 2}); err != nil || s != 3 {
				return fmt.Errorf("add = %d, %v", s, err)
			}
		}
		return nil
	}
	if err := loop(100); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	got := allocatedPerCall(calls, func() {
		for range 2 {
			go func() { errs <- loop(calls / 2) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				errs <- err
				return
			}
		}
	})
	if len(errs) > 0 {
		t.Fatal(<-errs)
	}
	if got > 64 {
		t.Fatalf("%.0f bytes allocated per call, want at most 64", got)
	}
}

// Built-in scalar arguments cost the server no allocation: a call with four
// (small values, which the caller boxes without allocating) allocates no
// more than a call with none.
func TestScalarArgsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	conn := firefly(t)
	ctx := context.Background()
	var n int
	none := func() {
		if err := conn.Root().Call(ctx, "none", &n); err != nil || n != 6 {
			t.Fatalf("none = %d, %v", n, err)
		}
	}
	sum := func() {
		if err := conn.Root().Call(ctx, "sum", &n, uint32(1), uint64(2), 3, true); err != nil || n != 6 {
			t.Fatalf("sum = %d, %v", n, err)
		}
	}
	none()
	sum()
	base := testing.AllocsPerRun(2000, none)
	if got := testing.AllocsPerRun(2000, sum); got > base {
		t.Fatalf("%.2f allocations per call with four scalar arguments, %.2f with none", got, base)
	}
}
