package rpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// onewayRoot counts the one-way calls it ran; each waits for release.
type onewayRoot struct {
	ran, running, most atomic.Int32
	release            chan struct{}
}

func (r *onewayRoot) RemoteNote(i int) {
	n := r.running.Add(1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-r.release
	r.running.Add(-1)
	r.ran.Add(1)
}

// TestOneWayBackpressure: one-way calls past the server's handler limit wait
// for a running one to return (the lane stops being read, so the sender waits
// in flow control) instead of being dropped: every one runs, never more than
// the limit at once.
func TestOneWayBackpressure(t *testing.T) {
	const limit, n = 4, 200
	root := &onewayRoot{release: make(chan struct{})}
	_, conn := pair(t, root, []rpc.Option{rpc.WithMaxHandlers(limit)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	for i := range n {
		if err := conn.Root().Send(ctx, "note", i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	testutil.Eventually(t, "the limit's worth of handlers to run", func() bool { return root.running.Load() == limit })
	time.Sleep(50 * time.Millisecond) // any handler past the limit would start now
	if m := root.most.Load(); m > limit {
		t.Fatalf("%d one-way handlers at once, limit %d", m, limit)
	}
	close(root.release)
	testutil.Eventually(t, "every one-way call to run", func() bool { return root.ran.Load() == n })
	if m := root.most.Load(); m > limit {
		t.Fatalf("%d one-way handlers at once, limit %d", m, limit)
	}
	if err := conn.Err(); err != nil {
		t.Fatal(err)
	}
}
