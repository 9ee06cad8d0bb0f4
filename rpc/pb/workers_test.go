package pb

import (
	"runtime"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestHandlerGoroutines checks that handler goroutines are kept for later
// calls (calls one after another run on them, starting none), end once idle
// for workerIdle, and end with their connection.
func TestHandlerGoroutines(t *testing.T) {
	ctx := testContext(t)
	root := newBrokerRoot()
	srv, c := pbPair(t, root, nil)
	base := testutil.Settled()

	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := c.Root().Call(ctx, "block", nil); err != nil {
				t.Error(err)
			}
		})
	}
	for range n {
		<-root.started
	}
	for range n {
		root.block <- struct{}{}
	}
	wg.Wait()
	idle := runtime.NumGoroutine()
	if idle < base+n {
		t.Fatalf("%d goroutines after %d handlers ended, want at least %d: the handler goroutines were not kept", idle, n, base+n)
	}
	for range 50 {
		if err := c.Root().Call(ctx, "keep", nil, "x"); err != nil {
			t.Fatal(err)
		}
		<-root.got
		if g := runtime.NumGoroutine(); g > idle {
			t.Fatalf("%d goroutines during calls one after another, %d before: a call started a goroutine", g, idle)
		}
	}
	testutil.Eventually(t, "the idle handler goroutines to end", func() bool { return runtime.NumGoroutine() <= base })

	for range n {
		wg.Go(func() { c.Root().Call(ctx, "block", nil) })
	}
	for range n {
		<-root.started
	}
	for range n {
		root.block <- struct{}{}
	}
	wg.Wait()
	c.Close()
	srv.Close()
	if g := testutil.Settled(); g >= base {
		t.Errorf("%d goroutines after the connection closed, %d while it was up and idle: handler goroutines outlived it", g, base)
	}
}
