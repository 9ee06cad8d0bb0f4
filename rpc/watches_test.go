package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// waitRoot's Wait runs until its context ends, and counts the handlers that
// saw it end; Hold runs until release is closed; Meet returns once meet
// handlers are in it at once.
type waitRoot struct {
	entered chan struct{}
	ended   chan struct{}
	release chan struct{}

	mu     sync.Mutex
	in     int
	meet   int
	gather chan struct{}
}

func (w *waitRoot) RemoteWait(ctx context.Context) {
	w.entered <- struct{}{}
	<-ctx.Done()
	w.ended <- struct{}{}
}

func (w *waitRoot) RemoteHold() { <-w.release }

// RemoteWaitWith is Wait with an argument too large for a held call.
func (w *waitRoot) RemoteWaitWith(ctx context.Context, _ []byte) { w.RemoteWait(ctx) }

func (w *waitRoot) RemoteMeet(ctx context.Context) error {
	w.mu.Lock()
	w.in++
	if w.in == w.meet {
		close(w.gather)
	}
	w.mu.Unlock()
	select {
	case <-w.gather:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSharedContextGivesUpEveryCall: calls sharing one context, some running
// in the peer's handlers and the rest waiting for its handler limit (held,
// or in their callers for an argument too large to hold), all end with the
// context's error when it is cancelled; the running handlers are told, and
// no credit is lost: afterwards as many calls as the limit run at once
// again.
func TestSharedContextGivesUpEveryCall(t *testing.T) {
	t.Run("held", func(t *testing.T) { sharedContextCancel(t, "wait") })
	t.Run("waiting", func(t *testing.T) { sharedContextCancel(t, "waitWith", make([]byte, 8<<10)) })
}

func sharedContextCancel(t *testing.T, method string, args ...any) {
	const limit, calls = 4, 40
	root := &waitRoot{entered: make(chan struct{}, calls), ended: make(chan struct{}, calls)}
	_, conn := pair(t, root, []rpc.Option{rpc.WithMaxHandlers(limit)})
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, calls)
	for range calls {
		go func() { errs <- conn.Root().Call(ctx, method, nil, args...) }()
	}
	for range limit {
		select {
		case <-root.entered:
		case <-time.After(30 * time.Second):
			t.Fatal("the handlers did not start")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for conn.Stats().PendingCalls < calls {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls pending, want %d", conn.Stats().PendingCalls, calls)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	allEndWith(t, errs, calls, context.Canceled)
	for i := range limit {
		select {
		case <-root.ended:
		case <-time.After(30 * time.Second):
			t.Fatalf("handler %d was not told of the cancel", i)
		}
	}
	select {
	case <-root.entered:
		t.Fatal("a call waiting for the handler limit was sent after it was given up")
	case <-time.After(20 * time.Millisecond):
	}

	root.mu.Lock()
	root.meet, root.gather = limit, make(chan struct{})
	root.mu.Unlock()
	meet, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	for range limit {
		go func() { errs <- conn.Root().Call(meet, "meet", nil) }()
	}
	for i := range limit {
		if err := <-errs; err != nil {
			t.Fatalf("call %d of %d at once after the cancel: %v (credits lost)", i, limit, err)
		}
	}
	if n := conn.Stats().PendingCalls; n != 0 {
		t.Fatalf("%d calls pending at the end, want 0", n)
	}
}

// TestSharedDeadlineEndsEveryCall: calls sharing a context whose deadline
// passes end with context.DeadlineExceeded, while their handlers still run.
func TestSharedDeadlineEndsEveryCall(t *testing.T) {
	const calls = 20
	root := &waitRoot{release: make(chan struct{})}
	defer close(root.release)
	_, conn := pair(t, root, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	errs := make(chan error, calls)
	for range calls {
		go func() { errs <- conn.Root().Call(ctx, "hold", nil) }()
	}
	allEndWith(t, errs, calls, context.DeadlineExceeded)
}

// allEndWith fails t unless n calls' errors on errs each match want, the
// calls ending within 30 seconds.
func allEndWith(t *testing.T, errs <-chan error, n int, want error) {
	t.Helper()
	for i := range n {
		select {
		case err := <-errs:
			if !errors.Is(err, want) {
				t.Fatalf("call %d = %v, want %v", i, err, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("call %d still waits, want it ended with %v", i, want)
		}
	}
}
