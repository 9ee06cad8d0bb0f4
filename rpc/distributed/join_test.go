package distributed_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestNodeJoinWaitsForTheRoot: Join keeps trying an address nobody serves
// yet, and is in once a root serves it.
func TestNodeJoinWaitsForTheRoot(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	var log testutil.LogBuf
	n := distributed.NewNode("game1", fastReconnect, distributed.WithLogger(log.Logger()))
	defer n.Close()
	joined := make(chan error, 1)
	go func() { joined <- n.Join(testutil.Context(t), addr) }()
	log.WaitFor(t, "distributed: node connection attempt failed", "attempt=2")
	root, _ := startRoot(t, addr)
	if err := <-joined; err != nil {
		t.Fatalf("Join: %v", err)
	}
	if !n.Connected() || root.Child("game1") == nil {
		t.Fatalf("after Join: connected %v, child %v", n.Connected(), root.Child("game1"))
	}
	if err := n.Join(testutil.Context(t), addr); !errors.Is(err, distributed.ErrNodeConnected) {
		t.Fatalf("a second Join: %v, want ErrNodeConnected", err)
	}
}

// TestNodeJoinEnds: Join returns ctx's error when ctx ends, and
// ErrNodeClosed when the node is closed, while nobody serves the address.
func TestNodeJoinEnds(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	n := distributed.NewNode("game1", fastReconnect)
	ctx, cancel := context.WithTimeout(testutil.Context(t), 100*time.Millisecond)
	defer cancel()
	if err := n.Join(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join past its deadline: %v, want DeadlineExceeded", err)
	}
	joined := make(chan error, 1)
	go func() { joined <- n.Join(testutil.Context(t), addr) }()
	time.Sleep(20 * time.Millisecond)
	n.Close()
	if err := <-joined; !errors.Is(err, distributed.ErrNodeClosed) {
		t.Fatalf("Join of a closed node: %v, want ErrNodeClosed", err)
	}
}
