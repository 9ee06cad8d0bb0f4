package rpc_test

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// weakKeeper's handler calls the reference back, as Calc.RemoteCallBack
// does, and records a weak pointer to it.
type weakKeeper struct{ got chan weak.Pointer[rpc.Ref] }

func (k *weakKeeper) RemoteCallBack(ctx context.Context, r *rpc.Ref, n int) error {
	k.got <- weak.Make(r)
	return r.Call(ctx, "print", nil, n)
}

// TestReceivedRefUnreachableAfterHandler checks that nothing of the broker
// keeps a received *Ref reachable once its handler has returned: a single
// garbage collection finds it unreachable.
func TestReceivedRefUnreachableAfterHandler(t *testing.T) {
	for _, withDeadline := range []bool{false, true} {
		k := &weakKeeper{got: make(chan weak.Pointer[rpc.Ref], 1)}
		srv, conn := pair(t, k, nil)
		ctx := context.Background()
		if withDeadline {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Hour)
			defer cancel()
		}
		if err := conn.Root().Call(ctx, "callBack", nil, newTwo(), 1); err != nil {
			t.Fatal(err)
		}
		wp := <-k.got
		sc := serverConn(t, srv)
		testutil.Eventually(t, "the handler to end", func() bool { return sc.Stats().Handlers == 0 })
		runtime.GC()
		if wp.Value() != nil {
			t.Errorf("deadline %v: the received *Ref is still reachable after its handler returned and a GC", withDeadline)
		}
	}
}
