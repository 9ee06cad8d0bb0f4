package distributed_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// broadcastChildren is the number of nodes BenchmarkBroadcast connects.
const broadcastChildren = 1000

// BenchmarkBroadcast: a Root with 1,000 connected nodes sends a one-way
// message (Child.Send) to each; an iteration ends when the last node has
// run it. Its sub-benchmark seq sends 1,000 one-way messages to one node,
// ending when that node has run the last. The nodes admit more one-way
// handlers than the default (WithMaxHandlers): a connection drops the
// one-way calls that arrive past its limit, and 1,000 back to back, with the
// previous iteration's handlers still finishing, would pass 1,024.
func BenchmarkBroadcast(b *testing.B) {
	root, addr := startRoot(b, "127.0.0.1:0")
	var got atomic.Int64
	arrived := make(chan struct{}, 1)
	var want atomic.Int64
	hit := func() {
		if got.Add(1) == want.Load() {
			arrived <- struct{}{}
		}
	}
	for i := range broadcastChildren {
		svc := distributed.NewService("child")
		mustMap(b, svc, "hit", hit)
		connectNode(b, addr, fmt.Sprintf("child%d", i), distributed.WithService(svc),
			distributed.WithDialOptions(rpc.WithMaxHandlers(4*broadcastChildren)))
	}
	testutil.Eventually(b, "every child", func() bool { return len(root.Children()) == broadcastChildren })
	kids := root.Children()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard
	defer cancel()
	run := func(b *testing.B, send func() error) {
		b.ReportAllocs()
		for b.Loop() {
			got.Store(0)
			want.Store(broadcastChildren)
			if err := send(); err != nil {
				b.Fatal(err)
			}
			select {
			case <-arrived:
			case <-time.After(time.Minute): // a hang guard
				b.Fatalf("%d of %d messages arrived", got.Load(), broadcastChildren)
			}
		}
	}
	b.Run("all", func(b *testing.B) {
		run(b, func() error {
			for _, c := range kids {
				if err := c.Send(ctx, "hit"); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("seq", func(b *testing.B) {
		run(b, func() error {
			for range broadcastChildren {
				if err := kids[0].Send(ctx, "hit"); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
