package rpc_test

import (
	"context"
	"testing"
	"time"
)

// ctxKeeper's handlers hand their context to goroutines that outlive them.
type ctxKeeper struct {
	ended   chan error // what a goroutine waiting on a handler's ctx saw
	running chan struct{}
}

// RemoteSpawn returns at once, leaving a goroutine that waits on ctx.
func (k *ctxKeeper) RemoteSpawn(ctx context.Context) {
	go func() {
		<-ctx.Done()
		k.ended <- ctx.Err()
	}()
}

// RemoteHold waits on ctx itself until it ends.
func (k *ctxKeeper) RemoteHold(ctx context.Context) error {
	k.running <- struct{}{}
	<-ctx.Done()
	k.ended <- ctx.Err()
	return ctx.Err()
}

// TestHandlerContextEndsAfterReturn: like net/http's request context, a
// handler's context is cancelled when the handler returns, and when its
// connection or server closes while it runs.
func TestHandlerContextEndsAfterReturn(t *testing.T) {
	wait := func(t *testing.T, k *ctxKeeper, what string) {
		t.Helper()
		select {
		case err := <-k.ended:
			if err == nil {
				t.Fatalf("%s: ctx.Err() = nil after Done", what)
			}
		case <-time.After(20 * time.Second): // a hang guard
			t.Fatalf("%s: the handler's context was not cancelled", what)
		}
	}
	t.Run("return", func(t *testing.T) {
		k := &ctxKeeper{ended: make(chan error, 1), running: make(chan struct{}, 1)}
		_, conn := pair(t, k, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := conn.Root().Call(ctx, "spawn", nil); err != nil {
			t.Fatal(err)
		}
		wait(t, k, "after the handler returned (caller with a deadline)")
		if err := conn.Root().Call(context.Background(), "spawn", nil); err != nil {
			t.Fatal(err)
		}
		wait(t, k, "after the handler returned (caller without a deadline)")
	})
	t.Run("server close", func(t *testing.T) {
		k := &ctxKeeper{ended: make(chan error, 1), running: make(chan struct{}, 1)}
		srv, conn := pair(t, k, nil)
		go conn.Root().Call(context.Background(), "hold", nil)
		<-k.running
		srv.Close()
		wait(t, k, "after the server closed")
	})
	t.Run("connection close", func(t *testing.T) {
		k := &ctxKeeper{ended: make(chan error, 1), running: make(chan struct{}, 1)}
		_, conn := pair(t, k, nil)
		go conn.Root().Send(context.Background(), "hold")
		<-k.running
		conn.Close()
		wait(t, k, "after the connection closed (one-way call)")
	})
}
