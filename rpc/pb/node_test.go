package pb

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// A Go node joins a Go root over the PB wire (NodeDialer and FireflyRoot):
// calls go both ways, an int command arrives as the int, and when the root
// drops the child the node rejoins by itself under the same name.
func TestNodeDialerGoRoot(t *testing.T) {
	root, err := distributed.NewRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Service().Map("double", func(n int) int { return 2 * n }); err != nil {
		t.Fatal(err)
	}
	if err := root.Service().MapID(9, func(s string, kw Kwargs) string { return s + "/" + kw["tag"].(string) }); err != nil {
		t.Fatal(err)
	}
	joined := make(chan *distributed.Child, 4)
	root.OnChildConnect(func(c *distributed.Child) { joined <- c })
	_, port := serveGo(t, FireflyRoot(root))

	svc := distributed.NewService("gonode")
	if err := svc.Map("triple", func(n int) int { return 3 * n }); err != nil {
		t.Fatal(err)
	}
	node := distributed.NewNode("gonode", distributed.WithService(svc), distributed.WithDialer(NodeDialer()),
		distributed.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond))
	defer node.Close()
	lost := make(chan error, 4)
	node.OnDisconnect(func(err error) { lost <- err })
	ctx := testContext(t)
	if err := node.Connect(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) *distributed.Child {
		t.Helper()
		select {
		case c := <-joined:
			return c
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
	first := wait("the node to join")
	check := func() {
		t.Helper()
		var n int
		if err := node.CallRemote(ctx, "double", &n, 21); err != nil || n != 42 {
			t.Errorf("CallRemote double: %d, %v", n, err)
		}
		var s string
		if err := node.CallRemote(ctx, 9, &s, "x", Kwargs{"tag": "y"}); err != nil || s != "x/y" {
			t.Errorf("CallRemote 9: %q, %v", s, err)
		}
		if err := root.CallChild(ctx, "gonode", "triple", &n, 5); err != nil || n != 15 {
			t.Errorf("CallChild triple: %d, %v", n, err)
		}
	}
	check()

	root.DropChild("gonode")
	select {
	case <-lost:
	case <-ctx.Done():
		t.Fatal("the node did not see the drop")
	}
	if c := wait("the node to rejoin"); c.Name() != "gonode" || c.ID() == first.ID() {
		t.Errorf("rejoined as %v (first %v)", c, first)
	}
	testutil.Eventually(t, "the node connected again", node.Connected)
	check()
	if err := node.SendRemote(ctx, "nosuch"); err != nil {
		t.Errorf("SendRemote: %v", err)
	}
	if err := node.Close(); err != nil || node.Connected() {
		t.Errorf("Close: %v, connected %v", err, node.Connected())
	}
	if err := node.CallRemote(ctx, "double", nil, 1); err == nil {
		t.Error("CallRemote after Close succeeded")
	}
}

// A Go root's refusals of the name reach the PB node as the sentinels the
// firefly wire gives (ErrIdentityMismatch, ErrNameTaken), and a dial to
// nothing fails each attempt until the context ends.
func TestNodeDialerErrors(t *testing.T) {
	ctx := testContext(t)
	proved, err := distributed.NewRoot(distributed.WithProvedNames(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer proved.Close()
	_, port := serveGo(t, FireflyRoot(proved))
	node := distributed.NewNode("gonode", distributed.WithDialer(NodeDialer()))
	defer node.Close()
	err = node.Connect(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if !errors.Is(err, distributed.ErrIdentityMismatch) || !rpc.IsExpected(err) {
		t.Errorf("Connect to a root that wants proved names: %v, want ErrIdentityMismatch", err)
	}

	// A live node on the firefly wire holds the name: a PB node asking
	// for it is refused.
	root, err := distributed.NewRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go root.Serve(ln)
	_, pbPort := serveGo(t, FireflyRoot(root))
	holder := distributed.NewNode("gonode")
	defer holder.Close()
	if err := holder.Connect(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	err = node.Connect(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(pbPort)))
	if !errors.Is(err, distributed.ErrNameTaken) {
		t.Errorf("Connect for a name a live node holds: %v, want ErrNameTaken", err)
	}
	if c := root.Child("gonode"); c == nil || c.Conn() == nil {
		t.Errorf("the child gonode is %v, want the firefly-wire holder", c)
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := node.Join(short, "127.0.0.1:1"); err == nil || node.Connected() {
		t.Errorf("Join to a closed port: %v, connected %v", err, node.Connected())
	}
}
