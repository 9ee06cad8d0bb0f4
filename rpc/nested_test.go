package rpc_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// hanger is the client's root in the nested-cancel tests: hang waits for its
// context to end and reports the error it saw.
type hanger struct {
	started chan struct{}
	seen    chan error
}

func (h *hanger) RemoteHang(ctx context.Context) error {
	h.started <- struct{}{}
	<-ctx.Done()
	h.seen <- ctx.Err()
	return ctx.Err()
}

// relay is the server's root: relay calls the client's hang n times at once,
// each with relay's own context, reports each outcome and returns its
// context's error.
type relay struct{ outcomes chan error }

func (r *relay) RemoteRelay(ctx context.Context, n int) error {
	c, _ := rpc.ConnFromContext(ctx)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { r.outcomes <- c.Root().Call(ctx, "hang", nil) })
	}
	wg.Wait()
	return ctx.Err()
}

// TestCancelReachesNestedCalls cancels a call whose handler waits on calls
// back to the caller: the handler's calls end with the cancel's error, and
// the cancel reaches their handlers too, one hop further.
func TestCancelReachesNestedCalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		deadline bool
		want     error
	}{
		{"one", 1, false, context.Canceled},
		{"three", 3, false, context.Canceled}, // more waiters than the inline slot
		{"deadline", 2, true, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hanger{started: make(chan struct{}, tc.n), seen: make(chan error, tc.n)}
			r := &relay{outcomes: make(chan error, tc.n)}
			srv, conn := pair(t, r, nil, rpc.WithRoot(h))
			ctx, cancel := context.WithCancel(context.Background())
			if tc.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			}
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- conn.Root().Call(ctx, "relay", nil, tc.n) }()
			for range tc.n {
				wait(t, h.started, "nested call to start")
			}
			if !tc.deadline {
				cancel()
			}
			if err := wait(t, errc, "the call to end"); !errors.Is(err, tc.want) {
				t.Fatalf("call = %v, want %v", err, tc.want)
			}
			for range tc.n {
				if err := wait(t, r.outcomes, "a nested call to end"); !errors.Is(err, tc.want) {
					t.Fatalf("nested call = %v, want %v", err, tc.want)
				}
				if err := wait(t, h.seen, "the nested handler to see the end"); !errors.Is(err, tc.want) {
					t.Fatalf("nested handler saw %v, want %v", err, tc.want)
				}
			}
			if n := serverConn(t, srv).Stats().PendingCalls; n != 0 {
				t.Fatalf("server's pending calls = %d, want 0", n)
			}
		})
	}
}

// wait receives from ch, failing the test after 5 seconds.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// deriver is a root whose derive makes contexts from its handler's context,
// reports what they saw once the call is cancelled and returns its context's
// error (with a deadline, the server's copy of it may end the handler before
// the caller's own timer fires: the answer then carries the error).
type deriver struct {
	n       int
	started chan int   // how many goroutines deriving the contexts added
	report  chan error // each derived context's error, then nil per AfterFunc run
	stopped chan bool  // whether a stopped AfterFunc ran
}

func (d *deriver) RemoteDerive(ctx context.Context) error {
	before := runtime.NumGoroutine()
	ctxs := make([]context.Context, d.n)
	for i := range ctxs {
		var cancel context.CancelFunc
		ctxs[i], cancel = context.WithCancel(ctx)
		defer cancel()
	}
	ran := make(chan struct{}, 1)
	context.AfterFunc(ctx, func() { ran <- struct{}{} })
	var stoppedRan atomic.Bool
	stop := context.AfterFunc(ctx, func() { stoppedRan.Store(true) })
	if !stop() {
		d.report <- errors.New("stop of a pending AfterFunc reported false")
	}
	d.started <- runtime.NumGoroutine() - before
	for _, c := range ctxs {
		<-c.Done()
		d.report <- c.Err()
	}
	<-ran
	d.stopped <- stoppedRan.Load()
	return ctx.Err()
}

// TestDerivedHandlerContexts derives contexts from a handler's context: they
// end with it, by cancel or by deadline, and need no goroutine each to watch
// it.
func TestDerivedHandlerContexts(t *testing.T) {
	for _, deadline := range []bool{false, true} {
		d := &deriver{n: 100, started: make(chan int, 1), report: make(chan error, 101), stopped: make(chan bool, 1)}
		_, conn := pair(t, d, nil)
		ctx, cancel := context.WithCancel(context.Background())
		want := context.Canceled
		if deadline {
			ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			want = context.DeadlineExceeded
		}
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- conn.Root().Call(ctx, "derive", nil) }()
		if added := wait(t, d.started, "the contexts to be derived"); added >= d.n/2 {
			t.Fatalf("deriving %d contexts started %d goroutines", d.n, added)
		}
		if !deadline {
			cancel()
		}
		if err := wait(t, errc, "the call to end"); !errors.Is(err, want) {
			t.Fatalf("call = %v, want %v", err, want)
		}
		for range d.n {
			if err := wait(t, d.report, "a derived context to end"); !errors.Is(err, want) {
				t.Fatalf("derived context ended with %v, want %v", err, want)
			}
		}
		if wait(t, d.stopped, "the AfterFunc to run") {
			t.Fatal("a stopped AfterFunc ran")
		}
	}
}

// erring is a root whose spin derives a context from its handler's context,
// waits, not yielding, until the deadline has passed, asks ctx.Err() at once
// (before the deadline's timer has had a chance to run), and reports what
// the derived context saw.
type erring struct{ derived chan error }

func (e *erring) RemoteSpin(ctx context.Context) error {
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	for time.Now().Before(dl) {
	}
	err := ctx.Err()
	select {
	case <-child.Done():
		e.derived <- child.Err()
	case <-time.After(2 * time.Second): // a hang guard
		e.derived <- errors.New("the derived context did not end with its parent's deadline")
	}
	return err
}

// TestErrAtDeadlineEndsDerived: a handler that finds its deadline passed
// through ctx.Err() before the deadline's timer ran ends the call there, so
// the contexts derived from it end too (the timer, when it runs, finds the
// call ended already).
func TestErrAtDeadlineEndsDerived(t *testing.T) {
	// One processor: the spinning handler holds it, so the timer's function
	// cannot run between the deadline and ctx.Err().
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := &erring{derived: make(chan error, 1)}
	_, conn := pair(t, e, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := conn.Root().Call(ctx, "spin", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("spin = %v, want %v", err, context.DeadlineExceeded)
	}
	if err := wait(t, e.derived, "the handler's report"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("derived context: %v", err)
	}
}
