package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// joinAs joins the master as server name with a master-link service of
// the test's own, closed when the test ends.
func joinAs(t *testing.T, cfg *Config, name string, svc *distributed.Service) *distributed.Node {
	t.Helper()
	n := distributed.NewNode(name, distributed.WithService(svc))
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Connect(ctx, cfg.MasterAddr()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// TestStuckServerDoesNotStallMaster has game1 never answer remote_connect:
// net still gets its own order when gate joins, and in order when gate
// joins again, while game1's first call is still waiting.
func TestStuckServerDoesNotStallMaster(t *testing.T) {
	cfg := testConfig(t)
	m, err := NewMaster(cfg, WithCallTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	release := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		cancel()
		<-done
	})
	waitFor(t, "the master to listen", func() bool {
		n := distributed.NewNode("probe")
		defer n.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		defer ccancel()
		return n.Connect(cctx, cfg.MasterAddr()) == nil
	})

	stuckCalled := make(chan struct{}, 10)
	stuck := distributed.NewService("game1@master")
	if err := stuck.Map(CmdRemoteConnect, func(ctx context.Context, root, host string) {
		stuckCalled <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	netSvc := distributed.NewService("net@master")
	if err := netSvc.Map(CmdRemoteConnect, func(root, host string) {
		mu.Lock()
		got = append(got, root+"@"+host)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	joinAs(t, cfg, "game1", stuck)
	joinAs(t, cfg, "net", netSvc)
	gate := joinAs(t, cfg, "gate", distributed.NewService("gate@master"))
	<-stuckCalled // game1 was told first (orders go by server name) and hangs
	waitFor(t, "net's order", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	// gate leaves and joins again: the master sees it go and tells net
	// again, game1's first order still hanging.
	gate.Close()
	waitFor(t, "gate to leave the map", func() bool { _, in := m.RemoteMap()["gate"]; return !in })
	joinAs(t, cfg, "gate", distributed.NewService("gate@master"))
	waitFor(t, "net's second order", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	select {
	case <-stuckCalled:
		t.Error("game1 got its second order before its first one returned")
	default:
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
