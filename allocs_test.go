package firefly_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

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
// a pooled incall, which keeps the frame with it in the pool.
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
