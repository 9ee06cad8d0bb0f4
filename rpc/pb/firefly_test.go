package pb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// A Go Root accepts Python Firefly-shaped nodes as children: takeProxy,
// callTarget with args and kwargs, CallChild by name and by int command,
// Broadcast, the connect and lost hooks, and the same-name rule.
func TestFireflyNodesJoinGoRoot(t *testing.T) {
	py := twistedPython(t)
	root, err := distributed.NewRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	svc := root.Service()
	if err := svc.Map("double", func(n int) int { return 2 * n }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Map("tagged", func(s string, kw Kwargs) string { return fmt.Sprintf("%s/%v", s, kw["tag"]) }); err != nil {
		t.Fatal(err)
	}
	joined := make(chan *distributed.Child, 4)
	lost := make(chan *distributed.Child, 4)
	root.OnChildConnect(func(c *distributed.Child) { joined <- c })
	root.OnChildLost(func(c *distributed.Child) { lost <- c })
	_, port := serveGo(t, FireflyRoot(root))

	wait := func(ch chan *distributed.Child, what string) *distributed.Child {
		t.Helper()
		select {
		case c := <-ch:
			return c
		case <-time.After(60 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
	node := startPython(t, py, "firefly_node.py", "", "pynode", strconv.Itoa(port))
	first := wait(joined, "the node to join")
	if first.Name() != "pynode" || first.Conn() != nil {
		t.Errorf("child %v (conn %v), want pynode on the PB wire", first, first.Conn())
	}
	for _, want := range []string{"callTarget double 42", "callTarget tagged x/y", "callTarget nosuch failed: RemoteError"} {
		node.WaitFor(t, want, func(l string) bool { return l == want })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var s string
	if err := root.CallChild(ctx, "pynode", "greet", &s, "Go"); err != nil || s != "hello Go from pynode" {
		t.Errorf("CallChild greet: %q, %v", s, err)
	}
	var n int
	if err := root.CallChild(ctx, "pynode", 7, &n, 6); err != nil || n != 42 {
		t.Errorf("CallChild 7: %d, %v", n, err)
	}
	if err := root.Broadcast(ctx, "greet", "everyone"); err != nil {
		t.Errorf("Broadcast: %v", err)
	}

	// The same name again replaces the child: the old one is lost, and its
	// connection closed.
	second := startPython(t, py, "firefly_node.py", "", "pynode", strconv.Itoa(port))
	if c := wait(lost, "the replaced child"); c.ID() != first.ID() {
		t.Errorf("lost %v, want the first child", c)
	}
	if c := wait(joined, "the second node"); c.Name() != "pynode" || c.ID() == first.ID() {
		t.Errorf("joined %v", c)
	}
	node.WaitFor(t, "the first node's disconnect", func(l string) bool { return l == "lost connection" })
	second.WaitFor(t, "the second node's calls", func(l string) bool { return strings.HasPrefix(l, "callTarget nosuch") })

	if !root.DropChild("pynode") {
		t.Error("DropChild found no child")
	}
	wait(lost, "the dropped child")
	second.WaitFor(t, "the second node's disconnect", func(l string) bool { return l == "lost connection" })
	if err := root.CallChild(ctx, "pynode", "greet", nil, "x"); err == nil {
		t.Error("CallChild after the drop succeeded")
	}
}

// A Go distributed.Node joins a Python Firefly root over PB (NodeDialer):
// the root's callChild runs the node's Service targets (by name and by int
// id), and the node's CallRemote runs the root's callTarget (args and
// kwargs). When the root process is killed the node runs its disconnect
// hook, a CallRemote made meanwhile waits, and when a new root process
// listens on the same port the node rejoins by itself: takeProxy again, the
// connect hook, the new root's calls reach it, and the waiting call runs.
func TestGoNodeJoinsFireflyRoot(t *testing.T) {
	py := twistedPython(t)
	port := strconv.Itoa(testutil.FreePorts(t, 1)[0])
	startRoot := func() *pyProc {
		p := startPython(t, py, "firefly_root.py", "", port)
		p.WaitFor(t, "the root to listen", func(l string) bool { return l == "listening "+port })
		return p
	}
	p := startRoot()
	svc := distributed.NewService("gonode")
	if err := svc.Map("greet", func(who string) string { return "hello " + who + " from gonode" }); err != nil {
		t.Fatal(err)
	}
	if err := svc.MapID(7, func(n int) int { return 7 * n }); err != nil {
		t.Fatal(err)
	}
	node := distributed.NewNode("gonode", distributed.WithService(svc), distributed.WithDialer(NodeDialer()),
		distributed.WithWaitForReconnect(true), distributed.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer node.Close()
	connects := make(chan *rpc.Conn, 4)
	lost := make(chan error, 4)
	node.OnConnect(func(c *rpc.Conn) { connects <- c })
	node.OnDisconnect(func(err error) { lost <- err })
	ctx := testContext(t)
	if err := node.Join(ctx, "127.0.0.1:"+port); err != nil {
		t.Fatal(err)
	}
	if c := <-connects; c != nil {
		t.Errorf("OnConnect got %v, want nil for a PB link", c)
	}
	if l, ok := node.Link().(*Conn); !ok || node.Conn() != nil || !node.Connected() {
		t.Errorf("Link %T, Conn %v, Connected %v: want a *pb.Conn only", node.Link(), node.Conn(), node.Connected())
	} else if l.RemoteAddr().String() != "127.0.0.1:"+port {
		t.Errorf("link to %v, want port %s", l.RemoteAddr(), port)
	}
	calls := func(p *pyProc) {
		t.Helper()
		var n int
		if err := node.CallRemote(ctx, "double", &n, 21); err != nil || n != 42 {
			t.Errorf("CallRemote double: %d, %v", n, err)
		}
		var s string
		if err := node.CallRemote(ctx, "tagged", &s, "x", Kwargs{"tag": "y"}); err != nil || s != "x/y" {
			t.Errorf("CallRemote tagged: %q, %v", s, err)
		}
		if err := node.CallRemote(ctx, "nosuch", nil); !rpc.IsExpected(err) {
			t.Errorf("CallRemote nosuch: %v, want the root's pb.Error", err)
		}
		p.WaitFor(t, "callChild greet", func(l string) bool { return l == "callChild greet hello py from gonode" })
		p.WaitFor(t, "callChild 7", func(l string) bool { return l == "callChild 7 42" })
	}
	calls(p)

	// The root goes away: the node sees it, and a call waits for the rejoin.
	p.Kill()
	select {
	case err := <-lost:
		if !errors.Is(err, rpc.ErrConnectionLost) {
			t.Errorf("OnDisconnect(%v), want an error matching rpc.ErrConnectionLost", err)
		}
	case <-ctx.Done():
		t.Fatal("no OnDisconnect after the root was killed")
	}
	waiting := make(chan error, 1)
	go func() {
		var n int
		err := node.CallRemote(ctx, 7, &n, 3) // the root has no target 7
		waiting <- err
	}()
	select {
	case err := <-waiting:
		t.Fatalf("CallRemote with the root down returned %v, want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	p = startRoot()
	select {
	case <-connects:
	case <-ctx.Done():
		t.Fatal("the node did not rejoin the restarted root")
	}
	if err := <-waiting; !rpc.IsExpected(err) || !strings.Contains(err.Error(), "no target 7") {
		t.Errorf("the waiting CallRemote(7): %v, want the new root's pb.Error for int key 7", err)
	}
	calls(p)
}
