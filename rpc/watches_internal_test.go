package rpc

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// seqRoot adds, and blocks until the call's context ends, telling seen how.
type seqRoot struct{ seen chan error }

func (*seqRoot) RemoteAdd(a, b int) int { return a + b }

func (r *seqRoot) RemoteBlock(ctx context.Context) {
	<-ctx.Done()
	r.seen <- ctx.Err()
}

// TestSequentialCallsWatchTheirContext: a caller making its calls one after
// another with one context that can end has the question table watch that
// context from its second call on (so that it waits for its answers as a
// caller whose context never ends does, reading them itself), the watch
// kept idle between calls; and cancelling the context ends a call in flight
// at once, the peer's handler told.
func TestSequentialCallsWatchTheirContext(t *testing.T) {
	r := &seqRoot{seen: make(chan error, 1)}
	_, c := connPair(t, r, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 3 {
		var n int
		if err := c.Root().Call(ctx, "add", &n, i, 1); err != nil || n != i+1 {
			t.Fatalf("add(%d, 1) = %d, %v", i, n, err)
		}
	}
	c.questions.mu.Lock()
	list := slices.Clone(c.questions.ctxs.list)
	c.questions.mu.Unlock()
	if len(list) != 1 || list[0].ctx != ctx || list[0].n != 0 {
		t.Fatalf("watches after 3 calls in a row: %d, want 1 of the calls' context, idle", len(list))
	}

	errs := make(chan error, 1)
	go func() { errs <- c.Root().Call(ctx, "block", nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().PendingCalls < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the blocking call never went out")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let it reach the peer's handler
	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("block = %v, want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("block still waits after its context was cancelled")
	}
	select {
	case err := <-r.seen:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the handler's context ended with %v, want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was never told")
	}
}
