package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// TestFullDoneChannelDoesNotStall: Ref.Go with a done channel that has room
// for fewer completions than calls. The completions that do not fit are
// dropped (and logged), as net/rpc does: an unrelated call on the same
// connection is answered and Conn.Close returns, with the channel never
// drained.
func TestFullDoneChannelDoesNotStall(t *testing.T) {
	var log testutil.LogBuf
	_, conn := pair(t, newCalc(), nil, rpc.WithLogger(log.Logger()))
	ctx := testutil.Context(t)
	done := make(chan *rpc.Call, 1)
	const n = 4
	for range n {
		conn.Root().Go(ctx, "add", new(int), done, Args{1, 2})
	}
	// A hang guard only: the unrelated call must not wait for the channel.
	callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var sum int
	if err := conn.Root().Call(callCtx, "add", &sum, Args{2, 3}); err != nil || sum != 5 {
		t.Fatalf("unrelated call with a full done channel = %d, %v", sum, err)
	}
	log.WaitFor(t, "done channel is full")
	closed := make(chan struct{})
	go func() {
		conn.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Conn.Close blocked on a full done channel")
	}
	if c := <-done; c.Error != nil || *(c.Reply.(*int)) != 3 {
		t.Fatalf("the completion that fit: %v, %v", c.Error, c.Reply)
	}
}
