package distributed_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestFaultNodeReconnects: a node behind a faulty link reconnects by itself
// after its connection is dropped, refused for a while and black-holed, and
// no goroutine is left once everything is closed.
func TestFaultNodeReconnects(t *testing.T) {
	before := testutil.Settled()
	ka := testutil.FastKeepalive()
	root, err := distributed.NewRoot(distributed.WithServerOptions(rpc.WithTransportConfig(ka)))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Service().Map("ping", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		root.Serve(ln)
	}()
	p, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	n := distributed.NewNode("game-1",
		distributed.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		distributed.WithDialTimeout(time.Second),
		distributed.WithDialOptions(rpc.WithTransportConfig(ka)))
	var mu sync.Mutex
	connects, losses := 0, 0
	n.OnConnect(func(*rpc.Conn) { mu.Lock(); connects++; mu.Unlock() })
	n.OnDisconnect(func(error) { mu.Lock(); losses++; mu.Unlock() })
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return connects, losses }
	if err := n.Connect(ctx, p.Addr()); err != nil {
		t.Fatal(err)
	}
	ping := func() {
		t.Helper()
		if err := n.CallRemote(ctx, "ping", nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	ping()

	// Dropped, and refused for a while.
	p.SetMode(faultproxy.Refuse)
	p.DropAll()
	testutil.Eventually(t, "the node to notice the drop", func() bool { _, l := count(); return l == 1 })
	if err := n.CallRemote(ctx, "ping", nil); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("a call while disconnected: %v, want ErrConnectionLost", err)
	}
	time.Sleep(200 * time.Millisecond) // a few refused attempts
	p.SetMode(faultproxy.Pass)
	testutil.Eventually(t, "the node to reconnect", func() bool { c, _ := count(); return c == 2 && n.Connected() })
	ping()

	// Black-holed: keepalive notices, the node reconnects once the link is
	// back.
	p.SetMode(faultproxy.BlackHole)
	testutil.Eventually(t, "the node to notice the black hole", func() bool { _, l := count(); return l == 2 })
	p.SetMode(faultproxy.Pass)
	testutil.Eventually(t, "the node to reconnect", func() bool { c, _ := count(); return c == 3 && n.Connected() })
	ping()
	testutil.Eventually(t, "the root to see one child", func() bool { return len(root.Children()) == 1 })

	n.Close()
	root.Close()
	<-served
	p.Close()
	testutil.NoLeaks(t, before)
}
