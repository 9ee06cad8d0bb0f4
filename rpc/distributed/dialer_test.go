package distributed_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestNodeDialer: a node given a Dialer reaches its root through it alone,
// at each address its resolver returns; the link it returns is supervised
// as the node's own (hooks, reconnection after the root drops the child),
// calls go through the reference it returns, and its errors come back
// from Connect wrapped with the node's name.
func TestNodeDialer(t *testing.T) {
	ctx := testutil.Context(t)
	root, addr := startRoot(t, "127.0.0.1:0")
	root.Service().Map("double", func(n int) int { return 2 * n })

	var mu sync.Mutex
	var dialled []string
	fail := errors.New("no route")
	dialer := func(ctx context.Context, n *distributed.Node, a string) (distributed.Link, *rpc.Ref, error) {
		mu.Lock()
		dialled = append(dialled, a)
		mu.Unlock()
		if a != addr {
			return nil, nil, fail
		}
		conn, err := rpc.Dial(ctx, "tcp", a)
		if err != nil {
			return nil, nil, err
		}
		var remote *rpc.Ref
		if err := conn.Root().Call(ctx, "takeProxy", &remote, n.Name(), n.Proxy()); err != nil {
			conn.Close()
			return nil, nil, err
		}
		return conn, remote, nil
	}
	resolve := func(context.Context, string) ([]string, error) { return []string{"elsewhere:1", addr}, nil }

	bad := distributed.NewNode("n", distributed.WithDialer(dialer))
	defer bad.Close()
	if err := bad.Connect(ctx, "elsewhere:1"); !errors.Is(err, fail) || !strings.Contains(err.Error(), `node "n"`) {
		t.Errorf("Connect through a failing dialer: %v, want its error, wrapped", err)
	}

	empty := distributed.NewNode("n", distributed.WithDialer(func(context.Context, *distributed.Node, string) (distributed.Link, *rpc.Ref, error) {
		return nil, nil, nil
	}))
	defer empty.Close()
	if err := empty.Connect(ctx, addr); err == nil || empty.Connected() {
		t.Errorf("Connect through a dialer that returns nothing: %v, connected %v", err, empty.Connected())
	}

	connects := make(chan *rpc.Conn, 4)
	n := distributed.NewNode("n", fastReconnect, distributed.WithDialer(dialer), distributed.WithResolver(resolve))
	n.OnConnect(func(c *rpc.Conn) { connects <- c })
	defer n.Close()
	if err := n.Connect(ctx, "root.example"); err != nil {
		t.Fatal(err)
	}
	if c := <-connects; c == nil || c != n.Conn() || n.Link() != distributed.Link(c) {
		t.Errorf("OnConnect(%v), Conn %v, Link %v: want the dialer's *rpc.Conn", c, n.Conn(), n.Link())
	}
	var got int
	if err := n.CallRemote(ctx, "double", &got, 4); err != nil || got != 8 {
		t.Errorf("CallRemote: %d, %v", got, err)
	}
	root.DropChild("n")
	select {
	case <-connects:
	case <-ctx.Done():
		t.Fatal("the node did not reconnect through its dialer")
	}
	if err := n.CallRemote(ctx, "double", &got, 5); err != nil || got != 10 {
		t.Errorf("CallRemote after the reconnection: %d, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"elsewhere:1", "elsewhere:1", addr, "elsewhere:1", addr}; strings.Join(dialled, " ") != strings.Join(want, " ") {
		t.Errorf("dialled %v, want %v", dialled, want)
	}
}
