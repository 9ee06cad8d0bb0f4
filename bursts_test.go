package firefly_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

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
