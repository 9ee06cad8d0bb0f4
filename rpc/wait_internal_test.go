package rpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// blocker's block waits for its context to end and reports the error.
type blocker struct{ seen chan error }

func (b *blocker) RemoteBlock(ctx context.Context) {
	<-ctx.Done()
	b.seen <- ctx.Err()
}

// TestWaitOnCancelledIncall covers a handler whose own call is cancelled
// between sending a call and waiting for it: the wait gives the call up at
// once, with the cancel's error, and the peer is told.
func TestWaitOnCancelledIncall(t *testing.T) {
	b := &blocker{seen: make(chan error, 1)}
	_, c := connPair(t, b, nil)

	q := getQuestion(nil)
	id, _, err := c.ask(context.Background(), c.Root(), "block", nil, q, false)
	if err != nil {
		t.Fatal(err)
	}
	ic := &incall{conn: c}
	ic.cancel(context.Canceled)
	done := make(chan struct{})
	go func() { ic.wait(c, id, q); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wait on a cancelled incall did not return")
	}
	if !errors.Is(q.err, context.Canceled) {
		t.Fatalf("question's error = %v, want context.Canceled", q.err)
	}
	if c.questions.take(id) != nil {
		t.Fatal("the question is still in the table")
	}
	select {
	case err := <-b.seen:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("peer's handler saw %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancel did not reach the peer")
	}
}
