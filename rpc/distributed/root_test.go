package distributed_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// startRoot serves a new root on addr ("127.0.0.1:0" for any port) and
// returns it with its address. The root is closed when the test ends.
func startRoot(t testing.TB, addr string, opts ...distributed.Option) (*distributed.Root, string) {
	t.Helper()
	root, err := distributed.NewRoot(opts...)
	if err != nil {
		t.Fatalf("NewRoot: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		root.Serve(ln)
	}()
	t.Cleanup(func() {
		root.Close()
		<-served
	})
	return root, ln.Addr().String()
}

// fastReconnect makes nodes come back quickly in tests.
var fastReconnect = distributed.WithReconnectBackoff(5*time.Millisecond, 50*time.Millisecond)

// connectNode connects a new node called name to addr. The node is closed
// when the test ends.
func connectNode(t testing.TB, addr, name string, opts ...distributed.Option) *distributed.Node {
	t.Helper()
	n := distributed.NewNode(name, append([]distributed.Option{fastReconnect}, opts...)...)
	t.Cleanup(func() { n.Close() })
	if err := n.Connect(testutil.Context(t), addr); err != nil {
		t.Fatalf("node %s: Connect: %v", name, err)
	}
	return n
}

// eventLog records hook events in order.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func (l *eventLog) hook(kind string) func(*distributed.Child) {
	return func(c *distributed.Child) { l.add("%s %s#%d", kind, c.Name(), c.ID()) }
}

func TestRootNodeCallsBothWays(t *testing.T) {
	ctx := testutil.Context(t)
	root, addr := startRoot(t, "127.0.0.1:0")
	mustMap(t, root.Service(), "add", func(a, b int) int { return a + b })
	mustMapID(t, root.Service(), 7, func(s string) (string, error) { return "root:" + s, nil })
	mustMap(t, root.Service(), "zeros", func() (pair2, error) { return pair2{}, nil })
	mustMap(t, root.Service(), "boom", func() { panic("root boom") })

	n := connectNode(t, addr, "game1")
	mustMapID(t, n.Service(), 101, func(ctx context.Context, x int) int { return x * 10 })
	mustMap(t, n.Service(), "falsy", func() (bool, error) { return false, nil })
	mustMap(t, n.Service(), "zero", func() int { return 0 })

	// node -> root
	var sum int
	if err := n.CallRemote(ctx, "add", &sum, 2, 40); err != nil || sum != 42 {
		t.Fatalf("CallRemote(add) = %d, %v", sum, err)
	}
	var s string
	if err := n.CallRemote(ctx, 7, &s, "hi"); err != nil || s != "root:hi" {
		t.Fatalf("CallRemote(7) = %q, %v", s, err)
	}
	p := pair2{1, "x"}
	if err := n.CallRemote(ctx, "zeros", &p); err != nil || p != (pair2{}) {
		t.Fatalf("CallRemote(zeros) = %+v, %v", p, err)
	}
	if err := n.CallRemote(ctx, "nope", nil); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("CallRemote(nope) = %v, want ErrNoSuchMethod", err)
	}
	if err := n.CallRemote(ctx, "boom", nil); !errors.Is(err, rpc.ErrPanic) {
		t.Fatalf("CallRemote(boom) = %v, want ErrPanic", err)
	}
	if err := n.CallRemote(ctx, "add", &sum, 1, 1); err != nil || sum != 2 {
		t.Fatalf("CallRemote after a panic = %d, %v", sum, err)
	}

	// root -> node
	testutil.Eventually(t, "child game1", func() bool { return root.Child("game1") != nil })
	var x int
	if err := root.CallChild(ctx, "game1", 101, &x, 5); err != nil || x != 50 {
		t.Fatalf("CallChild(101) = %d, %v", x, err)
	}
	c := root.Child("game1")
	if err := c.Call(ctx, "101", &x, 6); err != nil || x != 60 {
		t.Fatalf("Child.Call(\"101\") = %d, %v", x, err)
	}
	if got := root.ChildByID(c.ID()); got != c {
		t.Fatalf("ChildByID = %v, want %v", got, c)
	}
	b := true
	if err := root.CallChild(ctx, "game1", "falsy", &b); err != nil || b {
		t.Fatalf("CallChild(falsy) = %v, %v", b, err)
	}
	x = 9
	if err := root.CallChild(ctx, "game1", "zero", &x); err != nil || x != 0 {
		t.Fatalf("CallChild(zero) = %d, %v", x, err)
	}
	err := root.CallChild(ctx, "game1", 999, nil)
	if !errors.Is(err, rpc.ErrNoSuchMethod) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("CallChild(999) = %v, want ErrNoSuchMethod naming 999", err)
	}
	if err := root.CallChild(ctx, "ghost", 101, nil); !errors.Is(err, distributed.ErrNoSuchChild) {
		t.Fatalf("CallChild(ghost) = %v, want ErrNoSuchChild", err)
	}
	if err := root.SendChild(ctx, "ghost", 101); !errors.Is(err, distributed.ErrNoSuchChild) {
		t.Fatalf("SendChild(ghost) = %v, want ErrNoSuchChild", err)
	}
	got := make(chan int, 1)
	mustMap(t, n.Service(), "note", func(v int) { got <- v })
	if err := root.SendChild(ctx, "game1", "note", 77); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != 77 {
		t.Fatalf("SendChild delivered %d", v)
	}
	if err := n.SendRemote(ctx, "add", 1, 2); err != nil {
		t.Fatalf("SendRemote: %v", err)
	}
	call := <-n.GoRemote(ctx, "add", &sum, nil, 20, 3).Done
	if call.Error != nil || sum != 23 {
		t.Fatalf("GoRemote = %d, %v", sum, call.Error)
	}
}

func TestRootHooksConnectThenLost(t *testing.T) {
	var log eventLog
	root, addr := startRoot(t, "127.0.0.1:0")
	root.OnChildConnect(log.hook("connect"))
	root.OnChildLost(log.hook("lost"))
	n := connectNode(t, addr, "gate")
	testutil.Eventually(t, "connect hook", func() bool { return len(log.get()) == 1 })
	id := root.Child("gate").ID()
	n.Close()
	testutil.Eventually(t, "lost hook", func() bool { return len(log.get()) == 2 })
	want := []string{fmt.Sprintf("connect gate#%d", id), fmt.Sprintf("lost gate#%d", id)}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if root.Child("gate") != nil || len(root.Children()) != 0 {
		t.Fatalf("child still registered after its node closed: %v", root.Children())
	}
}

// takeProxy does a node's handshake by hand over a plain connection, so the
// test controls when each connection comes and goes.
// takeProxy makes the node handshake by hand on a new connection, with
// incarnation when it is not empty.
func takeProxy(t *testing.T, addr, name string, svc *distributed.Service, incarnation ...string) (*rpc.Conn, *rpc.Ref) {
	t.Helper()
	ctx := testutil.Context(t)
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var remote *rpc.Ref
	args := []any{name, distributed.NewProxyReference(svc)}
	for _, inc := range incarnation {
		args = append(args, inc)
	}
	if err := conn.Root().Call(ctx, "takeProxy", &remote, args...); err != nil {
		t.Fatalf("takeProxy: %v", err)
	}
	return conn, remote
}

func TestRootSameNameReplaces(t *testing.T) {
	ctx := testutil.Context(t)
	var log eventLog
	root, addr := startRoot(t, "127.0.0.1:0")
	root.OnChildConnect(log.hook("connect"))
	root.OnChildLost(log.hook("lost"))
	mustMap(t, root.Service(), "ping", func() string { return "pong" })

	oldSvc, newSvc := distributed.NewService("old"), distributed.NewService("new")
	mustMap(t, oldSvc, "who", func() string { return "old" })
	mustMap(t, newSvc, "who", func() string { return "new" })

	// One incarnation on two connections: the node reconnected before the
	// root noticed its old connection end.
	oldConn, _ := takeProxy(t, addr, "dup", oldSvc, "inc-1")
	oldChild := root.Child("dup")
	newConn, newRemote := takeProxy(t, addr, "dup", newSvc, "inc-1")
	newChild := root.Child("dup")
	if newChild == nil || newChild == oldChild || newChild.ID() == oldChild.ID() {
		t.Fatalf("child after reconnect = %v, old %v", newChild, oldChild)
	}

	// The stale connection is closed by the root.
	select {
	case <-oldConn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced child's connection was not closed")
	}
	// Its late disconnect must not remove the new child.
	time.Sleep(50 * time.Millisecond)
	if got := root.Child("dup"); got != newChild {
		t.Fatalf("after the old connection ended, child = %v, want %v", got, newChild)
	}
	want := []string{
		fmt.Sprintf("connect dup#%d", oldChild.ID()),
		fmt.Sprintf("lost dup#%d", oldChild.ID()),
		fmt.Sprintf("connect dup#%d", newChild.ID()),
	}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	// The new child works both ways.
	var who string
	if err := root.CallChild(ctx, "dup", "who", &who); err != nil || who != "new" {
		t.Fatalf("CallChild(who) = %q, %v", who, err)
	}
	var pong string
	if err := newRemote.Call(ctx, "ping", &pong); err != nil || pong != "pong" {
		t.Fatalf("ping = %q, %v", pong, err)
	}
	// Its own loss is reported once.
	newConn.Close()
	testutil.Eventually(t, "lost hook of the new child", func() bool { return len(log.get()) == 4 })
	if got, w := log.get()[3], fmt.Sprintf("lost dup#%d", newChild.ID()); got != w {
		t.Fatalf("last event %q, want %q", got, w)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(log.get()); n != 4 {
		t.Fatalf("%d events, want 4: %q", n, log.get())
	}
}

func TestRootTakeProxyRefused(t *testing.T) {
	ctx := testutil.Context(t)
	_, addr := startRoot(t, "127.0.0.1:0")
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var remote *rpc.Ref
	err = conn.Root().Call(ctx, "takeProxy", &remote, "", distributed.NewProxyReference(distributed.NewService("x")))
	if !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("takeProxy with no name = %v, want ErrBadArguments", err)
	}
}

func TestRootDropChild(t *testing.T) {
	ctx := testutil.Context(t)
	var log eventLog
	root, addr := startRoot(t, "127.0.0.1:0")
	root.OnChildConnect(log.hook("connect"))
	root.OnChildLost(log.hook("lost"))
	n := connectNode(t, addr, "game")
	mustMap(t, n.Service(), "who", func() string { return "game" })
	testutil.Eventually(t, "child", func() bool { return root.Child("game") != nil })
	first := root.Child("game")
	if root.DropChild("nobody") {
		t.Fatal("DropChild(nobody) reported a drop")
	}
	if !root.DropChild("game") {
		t.Fatal("DropChild(game) reported nothing")
	}
	// The node comes back by itself, as a new child.
	testutil.Eventually(t, "node back", func() bool {
		c := root.Child("game")
		return c != nil && c.ID() != first.ID()
	})
	var who string
	if err := root.CallChild(ctx, "game", "who", &who); err != nil || who != "game" {
		t.Fatalf("CallChild after reconnect = %q, %v", who, err)
	}
	second := root.Child("game")
	if !root.DropChildByID(second.ID()) {
		t.Fatal("DropChildByID reported nothing")
	}
	testutil.Eventually(t, "events", func() bool { return len(log.get()) >= 4 })
	want := []string{
		fmt.Sprintf("connect game#%d", first.ID()), fmt.Sprintf("lost game#%d", first.ID()),
		fmt.Sprintf("connect game#%d", second.ID()), fmt.Sprintf("lost game#%d", second.ID()),
	}
	if got := log.get()[:4]; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestRootBroadcast(t *testing.T) {
	ctx := testutil.Context(t)
	root, addr := startRoot(t, "127.0.0.1:0")
	var hits sync.Map
	for _, name := range []string{"a", "b", "c"} {
		n := connectNode(t, addr, name)
		if name != "c" {
			mustMap(t, n.Service(), "reload", func(v int) { hits.Store(name, v) })
		}
	}
	testutil.Eventually(t, "3 children", func() bool { return len(root.Children()) == 3 })
	err := root.Broadcast(ctx, "reload", 5)
	var be *distributed.BroadcastError
	if !errors.As(err, &be) || len(be.Errs) != 1 || be.Errs["c"] == nil {
		t.Fatalf("Broadcast = %v, want a failure for c only", err)
	}
	if !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("Broadcast error %v does not match ErrNoSuchMethod", err)
	}
	for _, name := range []string{"a", "b"} {
		if v, ok := hits.Load(name); !ok || v != 5 {
			t.Fatalf("%s got %v", name, v)
		}
	}
	err = root.BroadcastFunc(ctx, func(c *distributed.Child) bool { return c.Name() != "c" }, "reload", 6)
	if err != nil {
		t.Fatalf("BroadcastFunc without c = %v", err)
	}
	if v, _ := hits.Load("a"); v != 6 {
		t.Fatalf("a got %v after the filtered broadcast", v)
	}
}

// TestRootRestartSamePort: the root process stops (listener and connections
// closed) and a new one starts on the same port; the nodes come back by
// themselves and calls work both ways again.
func TestRootRestartSamePort(t *testing.T) {
	ctx := testutil.Context(t)
	setup := func(r *distributed.Root, gen string) {
		mustMap(t, r.Service(), "gen", func() string { return gen })
	}
	root1, addr := startRoot(t, "127.0.0.1:0")
	setup(root1, "first")
	names := []string{"gate", "game1", "game2"}
	var nodes []*distributed.Node
	for _, name := range names {
		n := connectNode(t, addr, name)
		mustMap(t, n.Service(), "name", func() string { return name })
		nodes = append(nodes, n)
	}
	testutil.Eventually(t, "children", func() bool { return len(root1.Children()) == len(names) })

	root1.Close()
	for _, n := range nodes {
		testutil.Eventually(t, n.Name()+" disconnected", func() bool { return !n.Connected() })
		if err := n.CallRemote(ctx, "gen", nil); !errors.Is(err, rpc.ErrConnectionLost) {
			t.Fatalf("call while the root is down = %v, want ErrConnectionLost", err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a few failed attempts

	root2, _ := startRoot(t, addr)
	setup(root2, "second")
	for _, n := range nodes {
		testutil.Eventually(t, n.Name()+" reconnected", n.Connected)
		var gen string
		if err := n.CallRemote(ctx, "gen", &gen); err != nil || gen != "second" {
			t.Fatalf("%s: gen = %q, %v", n.Name(), gen, err)
		}
	}
	testutil.Eventually(t, "children on the new root", func() bool { return len(root2.Children()) == len(names) })
	for _, name := range names {
		var got string
		if err := root2.CallChild(ctx, name, "name", &got); err != nil || got != name {
			t.Fatalf("CallChild(%s) = %q, %v", name, got, err)
		}
	}
}

// TestRootFiftyNodes: 50 nodes on one root, each called by the root and
// calling it, all at once.
func TestRootFiftyNodes(t *testing.T) {
	ctx := testutil.Context(t)
	const count = 50
	root, addr := startRoot(t, "127.0.0.1:0")
	var rootCalls atomic.Int32
	mustMap(t, root.Service(), "hello", func(name string) string { rootCalls.Add(1); return "hello " + name })
	nodes := make([]*distributed.Node, count)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range count {
		wg.Go(func() {
			name := fmt.Sprintf("node%02d", i)
			n := distributed.NewNode(name, fastReconnect)
			mustMap(t, n.Service(), "square", func(x int) int { return x * x })
			if err := n.Connect(ctx, addr); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			nodes[i] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	if t.Failed() {
		return
	}
	testutil.Eventually(t, "50 children", func() bool { return len(root.Children()) == count })
	for i, n := range nodes {
		wg.Go(func() {
			var s string
			if err := n.CallRemote(ctx, "hello", &s, n.Name()); err != nil || s != "hello "+n.Name() {
				t.Errorf("%s: hello = %q, %v", n.Name(), s, err)
			}
		})
		wg.Go(func() {
			var sq int
			if err := root.CallChild(ctx, n.Name(), "square", &sq, i); err != nil || sq != i*i {
				t.Errorf("%s: square = %d, %v", n.Name(), sq, err)
			}
		})
	}
	wg.Wait()
	if got := rootCalls.Load(); got != count {
		t.Fatalf("root served %d calls, want %d", got, count)
	}
	if err := root.Broadcast(ctx, "square", 3); err != nil {
		t.Fatalf("Broadcast to 50: %v", err)
	}
}

func TestChildManager(t *testing.T) {
	var m distributed.ChildManager // the zero value is usable
	if m.Len() != 0 || m.Get("a") != nil || m.GetByID(1) != nil || m.Drop("a") != nil {
		t.Fatal("empty manager is not empty")
	}
	a1, b := distributed.NewChild(1, "a", nil), distributed.NewChild(2, "b", nil)
	if m.Add(b) != nil || m.Add(a1) != nil {
		t.Fatal("Add of new names reported a replacement")
	}
	a2 := distributed.NewChild(3, "a", nil)
	if old := m.Add(a2); old != a1 {
		t.Fatalf("Add(a2) replaced %v, want %v", old, a1)
	}
	if m.GetByID(1) != nil || m.GetByID(3) != a2 || m.Get("a") != a2 {
		t.Fatal("the replaced child is still found")
	}
	// The replaced child's late removal leaves its replacement alone.
	if m.Remove(a1) {
		t.Fatal("Remove of a replaced child reported a removal")
	}
	if m.Get("a") != a2 || m.Len() != 2 {
		t.Fatal("Remove of a replaced child removed its replacement")
	}
	if got := m.List(); len(got) != 2 || got[0] != a2 || got[1] != b {
		t.Fatalf("List = %v, want [a2 b]", got)
	}
	if m.DropByID(2) != b || m.Get("b") != nil || m.Len() != 1 {
		t.Fatal("DropByID did not drop b")
	}
	if !m.Remove(a2) || m.Remove(a2) || m.Len() != 0 {
		t.Fatal("Remove of a registered child misreported")
	}
}
