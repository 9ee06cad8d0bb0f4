package pb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

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
		node.waitFor(t, want, func(l string) bool { return l == want })
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
	node.waitFor(t, "the first node's disconnect", func(l string) bool { return l == "lost connection" })
	second.waitFor(t, "the second node's calls", func(l string) bool { return strings.HasPrefix(l, "callTarget nosuch") })

	if !root.DropChild("pynode") {
		t.Error("DropChild found no child")
	}
	wait(lost, "the dropped child")
	second.waitFor(t, "the second node's disconnect", func(l string) bool { return l == "lost connection" })
	if err := root.CallChild(ctx, "pynode", "greet", nil, "x"); err == nil {
		t.Error("CallChild after the drop succeeded")
	}
}

// A Go node joins a Python Firefly root: the root's callChild runs the
// node's Service targets (by name and by int id), and the node's CallRemote
// runs the root's callTarget.
func TestGoNodeJoinsFireflyRoot(t *testing.T) {
	py := twistedPython(t)
	p := startPython(t, py, "firefly_root.py", "", "0")
	line := p.waitFor(t, "the root to listen", func(l string) bool { return strings.HasPrefix(l, "listening ") })
	addr := "127.0.0.1:" + strings.TrimPrefix(line, "listening ")
	svc := distributed.NewService("gonode")
	if err := svc.Map("greet", func(who string) string { return "hello " + who + " from gonode" }); err != nil {
		t.Fatal(err)
	}
	if err := svc.MapID(7, func(n int) int { return 7 * n }); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	node, err := JoinFireflyRoot(ctx, addr, "gonode", svc)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	var n int
	if err := node.CallRemote(ctx, "double", &n, 21); err != nil || n != 42 {
		t.Errorf("CallRemote double: %d, %v", n, err)
	}
	if err := node.CallRemote(ctx, "nosuch", nil); !rpc.IsExpected(err) {
		t.Errorf("CallRemote nosuch: %v, want the root's pb.Error", err)
	}
	p.waitFor(t, "callChild greet", func(l string) bool { return l == "callChild greet hello py from gonode" })
	p.waitFor(t, "callChild 7", func(l string) bool { return l == "callChild 7 42" })
}
