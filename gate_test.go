package firefly_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// gate builds Firefly's usual route: a root (gate) with two nodes, net and
// game. The gate's "forward" target calls the game child and returns its
// answer; "echo" answers directly.
func gate(b *testing.B) *distributed.Node {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, err := distributed.NewRoot()
	if err != nil {
		b.Fatal(err)
	}
	echo := func(x int) int { return x }
	if err := root.Service().Map("echo", echo); err != nil {
		b.Fatal(err)
	}
	err = root.Service().Map("forward", func(ctx context.Context, x int) (int, error) {
		var y int
		err := root.CallChild(ctx, "game", "echo", &y, x)
		return y, err
	})
	if err != nil {
		b.Fatal(err)
	}
	ln := listen(b)
	go root.Serve(ln)
	b.Cleanup(func() { root.Close() })
	game := distributed.NewNode("game")
	if err := game.Service().Map("echo", echo); err != nil {
		b.Fatal(err)
	}
	net := distributed.NewNode("net")
	for _, n := range []*distributed.Node{game, net} {
		if err := n.Connect(ctx, ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
	}
	for root.Child("game") == nil {
		if ctx.Err() != nil {
			b.Fatal("game never joined")
		}
		time.Sleep(time.Millisecond)
	}
	return net
}

// BenchmarkGateHop: a node's call that the root forwards to another child and
// back (net -> gate -> game -> gate -> net), beside BenchmarkGateDirect.
func BenchmarkGateHop(b *testing.B) { gateCalls(b, "forward") }

// BenchmarkGateDirect: the same node calling the root directly (net -> gate).
func BenchmarkGateDirect(b *testing.B) { gateCalls(b, "echo") }

// gateCalls has gate's node call the root's target method with i in a loop,
// checking that each answer is i.
func gateCalls(b *testing.B, method string) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	ctx := context.Background()
	n := gate(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var y int
		if err := n.CallRemote(ctx, method, &y, i); err != nil || y != i {
			b.Fatalf("%s = %d, %v", method, y, err)
		}
	}
}

// BenchmarkGateHopPair makes a direct call and a forwarded one (GateDirect's
// and GateHop's) alternately in one loop, timing each, so that both see the
// same moment of the machine, and reports each one's median and the ratio
// of the medians, as CallbackPair does for the callback. A third step makes
// two direct calls in a row: a hop's two round trips without the hop
// (twice-ratio). It also reports the ratio of the means, which the slow
// tail of each moves.
func BenchmarkGateHopPair(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	ctx := context.Background()
	n := gate(b)
	call := func(method string) func() error {
		i := 0
		return func() error {
			i++
			var y int
			if err := n.CallRemote(ctx, method, &y, i); err != nil || y != i {
				return fmt.Errorf("%s = %d, %v", method, y, err)
			}
			return nil
		}
	}
	direct, hop := call("echo"), call("forward")
	twice := func() error {
		if err := direct(); err != nil {
			return err
		}
		return direct()
	}
	p50, _, mean := alternate(b, direct, hop, twice)
	b.ReportMetric(p50[0], "direct-p50-ns")
	b.ReportMetric(p50[1], "hop-p50-ns")
	b.ReportMetric(p50[1]/p50[0], "ratio")
	b.ReportMetric(p50[2]/p50[0], "twice-ratio")
	b.ReportMetric(mean[1]/mean[0], "mean-ratio")
}
