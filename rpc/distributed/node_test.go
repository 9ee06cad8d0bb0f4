package distributed_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// settledGoroutineCount returns the goroutine count once it has not changed
// for a few polls.
func settledGoroutineCount() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(5 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// goroutinesDownTo waits until at most want goroutines run, and returns the
// count it saw last.
func goroutinesDownTo(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestNodeCloseLeavesNoGoroutines(t *testing.T) {
	ctx := testutil.Context(t)
	root, addr := startRoot(t, "127.0.0.1:0")
	mustMap(t, root.Service(), "ping", func() int { return 1 })
	doomed, doomedAddr := startRoot(t, "127.0.0.1:0")
	before := settledGoroutineCount() // the roots are serving, nothing else

	for range 3 {
		n := distributed.NewNode("leaky", fastReconnect)
		mustMap(t, n.Service(), "pong", func() int { return 2 })
		n.OnConnect(func(*rpc.Conn) {})
		if err := n.Connect(ctx, addr); err != nil {
			t.Fatal(err)
		}
		if err := n.CallRemote(ctx, "ping", nil); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "child", func() bool { return root.Child("leaky") != nil })
		if err := root.CallChild(ctx, "leaky", "pong", nil); err != nil {
			t.Fatal(err)
		}
		// A drop makes the node reconnect: the supervisor is busy.
		root.DropChild("leaky")
		testutil.Eventually(t, "reconnect", func() bool { return root.Child("leaky") != nil && n.Connected() })
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		n.Close() // idempotent
		testutil.Eventually(t, "child gone", func() bool { return root.Child("leaky") == nil })
	}
	// A node closed while it tries to reconnect to a root that is gone.
	dead := distributed.NewNode("dead", fastReconnect)
	if err := dead.Connect(ctx, doomedAddr); err != nil {
		t.Fatal(err)
	}
	doomed.Close()
	testutil.Eventually(t, "dead disconnected", func() bool { return !dead.Connected() })
	time.Sleep(20 * time.Millisecond) // a few failed attempts
	dead.Close()

	if after := goroutinesDownTo(before); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after closing the nodes:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestNodeHooksAlternate(t *testing.T) {
	root, addr := startRoot(t, "127.0.0.1:0")
	var log eventLog
	n := distributed.NewNode("n", fastReconnect)
	t.Cleanup(func() { n.Close() })
	n.OnConnect(func(c *rpc.Conn) { log.add("connect") })
	n.OnDisconnect(func(err error) {
		if !errors.Is(err, rpc.ErrConnectionLost) {
			t.Errorf("disconnect reason %v does not match ErrConnectionLost", err)
		}
		log.add("disconnect")
	})
	if err := n.Connect(testutil.Context(t), addr); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "child", func() bool { return root.Child("n") != nil })
	root.DropChild("n")
	testutil.Eventually(t, "second connect", func() bool { return len(log.get()) == 3 })
	if got, want := log.get(), []string{"connect", "disconnect", "connect"}; !slices.Equal(got, want) {
		t.Fatalf("hooks %q, want %q", got, want)
	}
	n.Close()
	time.Sleep(20 * time.Millisecond)
	if got := len(log.get()); got != 3 {
		t.Fatalf("Close ran hooks: %q", log.get())
	}
}

func TestNodeConnectErrors(t *testing.T) {
	ctx := testutil.Context(t)
	// Nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	n := distributed.NewNode("n", fastReconnect)
	defer n.Close()
	if err := n.Connect(ctx, deadAddr); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if n.Connected() || n.Conn() != nil || n.Remote() != nil {
		t.Fatal("node reports a connection after a failed Connect")
	}
	if err := n.CallRemote(ctx, "x", nil); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call before connecting = %v, want ErrConnectionLost", err)
	}
	// The failed Connect may be retried.
	_, addr := startRoot(t, "127.0.0.1:0")
	if err := n.Connect(ctx, addr); err != nil {
		t.Fatalf("Connect after a failure: %v", err)
	}
	if err := n.Connect(ctx, addr); !errors.Is(err, distributed.ErrNodeConnected) {
		t.Fatalf("second Connect = %v, want ErrNodeConnected", err)
	}
	if err := n.CallRemote(ctx, 1.5, nil); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("float command = %v, want ErrBadArguments", err)
	}
	n.Close()
	if err := n.CallRemote(ctx, "x", nil); !errors.Is(err, distributed.ErrNodeClosed) {
		t.Fatalf("call after Close = %v, want ErrNodeClosed", err)
	}
	if err := n.Connect(ctx, addr); !errors.Is(err, distributed.ErrNodeClosed) {
		t.Fatalf("Connect after Close = %v, want ErrNodeClosed", err)
	}
}

// restartable is a root that can be stopped and started again on one port.
type restartable struct {
	t    *testing.T
	addr string
	root *distributed.Root
}

func (r *restartable) start() {
	r.root, r.addr = startRoot(r.t, r.addr)
	mustMap(r.t, r.root.Service(), "ping", func() string { return "pong" })
}

func (r *restartable) stop() { r.root.Close() }

func TestNodeFailFastWhileDown(t *testing.T) {
	ctx := testutil.Context(t)
	r := &restartable{t: t, addr: "127.0.0.1:0"}
	r.start()
	n := connectNode(t, r.addr, "n")
	r.stop()
	testutil.Eventually(t, "disconnected", func() bool { return !n.Connected() })
	start := time.Now()
	for range 10 {
		if err := n.CallRemote(ctx, "ping", nil); !errors.Is(err, rpc.ErrConnectionLost) {
			t.Fatalf("CallRemote while down = %v, want ErrConnectionLost", err)
		}
		if err := n.SendRemote(ctx, "ping"); !errors.Is(err, rpc.ErrConnectionLost) {
			t.Fatalf("SendRemote while down = %v, want ErrConnectionLost", err)
		}
		if c := <-n.GoRemote(ctx, "ping", nil, nil).Done; !errors.Is(c.Error, rpc.ErrConnectionLost) {
			t.Fatalf("GoRemote while down = %v, want ErrConnectionLost", c.Error)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("30 fail-fast calls took %v", d)
	}
	r.start()
	testutil.Eventually(t, "reconnected", n.Connected)
	var s string
	if err := n.CallRemote(ctx, "ping", &s); err != nil || s != "pong" {
		t.Fatalf("after the restart: %q, %v", s, err)
	}
}

func TestNodeWaitForReconnect(t *testing.T) {
	ctx := testutil.Context(t)
	r := &restartable{t: t, addr: "127.0.0.1:0"}
	r.start()
	n := connectNode(t, r.addr, "n", distributed.WithWaitForReconnect(true))
	r.stop()
	testutil.Eventually(t, "disconnected", func() bool { return !n.Connected() })

	// A call whose deadline passes while the root is down.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	err := n.CallRemote(short, "ping", nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call timing out while down = %v, want DeadlineExceeded and ErrConnectionLost", err)
	}

	// Calls made while down complete once the root is back.
	var s string
	callDone := make(chan error, 1)
	go func() { callDone <- n.CallRemote(ctx, "ping", &s) }()
	goCall := n.GoRemote(ctx, "ping", nil, nil)
	sendDone := make(chan error, 1)
	go func() { sendDone <- n.SendRemote(ctx, "ping") }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-callDone:
		t.Fatalf("call returned while the root was down: %v", err)
	default:
	}
	r.start()
	if err := <-callDone; err != nil || s != "pong" {
		t.Fatalf("waiting call = %q, %v", s, err)
	}
	if c := <-goCall.Done; c.Error != nil {
		t.Fatalf("waiting GoRemote = %v", c.Error)
	}
	if err := <-sendDone; err != nil {
		t.Fatalf("waiting SendRemote = %v", err)
	}

	// Close wakes a waiting call.
	r.stop()
	testutil.Eventually(t, "disconnected again", func() bool { return !n.Connected() })
	go func() { callDone <- n.CallRemote(ctx, "ping", nil) }()
	time.Sleep(20 * time.Millisecond)
	n.Close()
	if err := <-callDone; !errors.Is(err, distributed.ErrNodeClosed) {
		t.Fatalf("waiting call after Close = %v, want ErrNodeClosed", err)
	}
}

// TestNodeSeveralRoots: one process, two roots, a node to each and one node
// name used on both.
func TestNodeSeveralRoots(t *testing.T) {
	ctx := testutil.Context(t)
	rootA, addrA := startRoot(t, "127.0.0.1:0")
	rootB, addrB := startRoot(t, "127.0.0.1:0")
	mustMap(t, rootA.Service(), "who", func() string { return "A" })
	mustMap(t, rootB.Service(), "who", func() string { return "B" })
	toA := connectNode(t, addrA, "net")
	toB := connectNode(t, addrB, "net")
	mustMap(t, toA.Service(), "side", func() string { return "toA" })
	mustMap(t, toB.Service(), "side", func() string { return "toB" })
	for want, n := range map[string]*distributed.Node{"A": toA, "B": toB} {
		var got string
		if err := n.CallRemote(ctx, "who", &got); err != nil || got != want {
			t.Fatalf("who = %q, %v, want %s", got, err, want)
		}
	}
	testutil.Eventually(t, "children", func() bool { return rootA.Child("net") != nil && rootB.Child("net") != nil })
	for want, r := range map[string]*distributed.Root{"toA": rootA, "toB": rootB} {
		var got string
		if err := r.CallChild(ctx, "net", "side", &got); err != nil || got != want {
			t.Fatalf("side = %q, %v, want %s", got, err, want)
		}
	}
}
