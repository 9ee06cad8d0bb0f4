package rpc_test

import (
	"context"
	"errors"
	"sync"
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
