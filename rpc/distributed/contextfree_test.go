package distributed_test

import (
	"context"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestContextFreeTargetsAllocateLess: the broker reuses the state of a call
// to a Parallel service's target that takes no context (Service.ContextFree),
// both ways: a node's call of the root's service, and the root's call of a
// node's (through its ProxyReference). Such a call allocates at least one
// time less than the same call of a target that takes a context, which the
// handler may keep.
func TestContextFreeTargetsAllocateLess(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	plain := func(x int) int { return x + 1 }
	withCtx := func(_ context.Context, x int) int { return x + 1 }
	root, addr := startRoot(t, "127.0.0.1:0")
	node := connectNode(t, addr, "game")
	for _, svc := range []interface {
		Map(string, any) error
	}{root.Service(), node.Service()} {
		if err := svc.Map("plain", plain); err != nil {
			t.Fatal(err)
		}
		if err := svc.Map("ctx", withCtx); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "child game", func() bool { return root.Child("game") != nil })
	ctx := context.Background()
	calls := map[string]func(target string) error{
		"node to root": func(target string) error {
			var y int
			return node.CallRemote(ctx, target, &y, 1)
		},
		"root to node": func(target string) error {
			var y int
			return root.CallChild(ctx, "game", target, &y, 1)
		},
	}
	for way, call := range calls {
		allocs := func(target string) float64 {
			if err := call(target); err != nil {
				t.Fatalf("%s, %s: %v", way, target, err)
			}
			return testing.AllocsPerRun(500, func() {
				if err := call(target); err != nil {
					t.Errorf("%s, %s: %v", way, target, err)
				}
			})
		}
		p, c := allocs("plain"), allocs("ctx")
		if p > c-1 {
			t.Errorf("%s: %.2f allocations a call of a target without a context, %.2f with one; want at least one less", way, p, c)
		}
	}
}
