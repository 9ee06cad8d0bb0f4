package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// TestCreditPassesOverGivenUpWaiters: with the peer's single handler busy,
// calls queue for its credit; one that gives up is skipped when the credit
// comes back, which passes to the next caller still waiting, and no credit
// is lost: afterwards the handler runs one call after another again.
func TestCreditPassesOverGivenUpWaiters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, conn, release, first := busyHandler(t, ctx)
	short, cancelShort := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- conn.Root().Call(short, "block", nil) }()
	time.Sleep(20 * time.Millisecond) // the short call queues first
	next := make(chan error, 1)
	go func() { next <- conn.Root().Call(ctx, "block", nil) }()
	time.Sleep(20 * time.Millisecond)
	cancelShort()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("call that gave up waiting for a credit = %v, want Canceled", err)
	}
	close(release)
	for i, ch := range []chan error{first, next} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("call %d never ran: the credit did not pass to it", i)
		}
	}
	for range 3 {
		if err := conn.Root().Call(ctx, "block", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := root.calls(); got != 5 {
		t.Fatalf("the server ran %d calls, want 5 (the one given up is never sent)", got)
	}
}

// TestCreditWaitersFailOnClose: calls waiting for a credit, with contexts
// that never end, fail once the connection closes.
func TestCreditWaitersFailOnClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	root := &blockRoot{entered: make(chan struct{}, 1), release: release}
	_, conn := pair(t, root, []rpc.Option{rpc.WithMaxHandlers(1)})
	go conn.Root().Call(context.Background(), "block", nil)
	<-root.entered
	const n = 3
	waiting := make(chan error, n)
	for range n {
		go func() { waiting <- conn.Root().Call(context.Background(), "block", nil) }()
	}
	time.Sleep(20 * time.Millisecond)
	conn.Close()
	for i := range n {
		select {
		case err := <-waiting:
			if err == nil {
				t.Fatalf("call %d waiting for a credit succeeded after the close", i)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("call %d still waits for a credit after the close", i)
		}
	}
}

// busyHandler connects to a server with a single handler and makes a call
// of block on it, which runs until release is closed; first gets its
// outcome.
func busyHandler(t *testing.T, ctx context.Context) (root *blockRoot, conn *rpc.Conn, release chan struct{}, first chan error) {
	release = make(chan struct{})
	root = &blockRoot{entered: make(chan struct{}, 1), release: release}
	_, conn = pair(t, root, []rpc.Option{rpc.WithMaxHandlers(1)})
	first = make(chan error, 1)
	go func() { first <- conn.Root().Call(ctx, "block", nil) }()
	<-root.entered
	return root, conn, release, first
}
