package distributed_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestRootRefusesSecondLiveNode starts two live nodes under one name: the
// second is refused, the first keeps its child and its connection, and the
// root says so at Warn with the name and both addresses.
func TestRootRefusesSecondLiveNode(t *testing.T) {
	ctx := testutil.Context(t)
	var rootLog testutil.LogBuf
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithLogger(rootLog.Logger()))
	first := connectNode(t, addr, "game1")
	child := root.Child("game1")
	lost := make(chan error, 1)
	first.OnDisconnect(func(err error) { lost <- err })

	second := distributed.NewNode("game1", fastReconnect)
	defer second.Close()
	err := second.Connect(ctx, addr)
	if err == nil {
		t.Fatal("a second live node took a name that is taken")
	}
	t.Logf("second node: %v", err)
	if !errors.Is(err, rpc.ErrNameTaken) {
		t.Fatalf("second node's Connect = %v, want ErrNameTaken", err)
	}
	if !strings.Contains(err.Error(), first.Conn().LocalAddr().String()) {
		t.Errorf("the refusal does not name the holder's address: %v", err)
	}
	if got := root.Child("game1"); got != child {
		t.Fatalf("child after the refusal = %v, want %v", got, child)
	}
	select {
	case err := <-lost:
		t.Fatalf("the first node lost its connection: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if !first.Connected() {
		t.Fatal("the first node is not connected")
	}
	for _, want := range []string{"level=WARN", "game1", first.Conn().LocalAddr().String()} {
		if !strings.Contains(rootLog.String(), want) {
			t.Errorf("the root's log lacks %q:\n%s", want, rootLog.String())
		}
	}
}

// TestSameIncarnationReplacesItsChild connects a second node with the
// first one's incarnation while the first is still connected, as a node
// that reconnects before the root noticed its old connection end: it
// replaces its own child at once, and the old connection is closed.
func TestSameIncarnationReplacesItsChild(t *testing.T) {
	ctx := testutil.Context(t)
	// A liveness timeout longer than the test: only the incarnation lets
	// the second node in.
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithLivenessTimeout(time.Hour))
	first := connectNode(t, addr, "game1", distributed.WithIncarnation("pid-42"))
	stale := root.Child("game1")
	if stale.Incarnation() != "pid-42" || first.Incarnation() != "pid-42" {
		t.Fatalf("child's incarnation %q, node's %q", stale.Incarnation(), first.Incarnation())
	}
	again := distributed.NewNode("game1", distributed.WithIncarnation("pid-42"))
	defer again.Close()
	if err := again.Connect(ctx, addr); err != nil {
		t.Fatalf("the same incarnation was refused: %v", err)
	}
	if c := root.Child("game1"); c == nil || c == stale {
		t.Fatalf("child = %v, want a new one", c)
	}
	testutil.Eventually(t, "the stale child's connection closed", func() bool { return stale.Conn().Err() != nil })
	// Without an incarnation of its own a node never gets a live name.
	n := distributed.NewNode("game1")
	defer n.Close()
	if err := n.Connect(ctx, addr); !errors.Is(err, rpc.ErrNameTaken) {
		t.Fatalf("a new incarnation took a live name: %v", err)
	}
}

// TestRootReplacesDeadHolder gives a name held by a child that no longer
// answers (a process gone without its connection closing) to a new
// incarnation, once the holder's ping goes unanswered.
func TestRootReplacesDeadHolder(t *testing.T) {
	ctx := testutil.Context(t)
	var rootLog testutil.LogBuf
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithLogger(rootLog.Logger()), distributed.WithLivenessTimeout(200*time.Millisecond))
	proxy := testutil.FaultProxy(t, addr)
	old := connectNode(t, proxy.Addr(), "game1")
	stale := root.Child("game1")
	proxy.SetMode(faultproxy.BlackHole)

	fresh := distributed.NewNode("game1", fastReconnect)
	defer fresh.Close()
	if err := fresh.Connect(ctx, addr); err != nil {
		t.Fatalf("a new incarnation could not replace a dead holder: %v", err)
	}
	if c := root.Child("game1"); c == nil || c == stale || c.Incarnation() != fresh.Incarnation() {
		t.Fatalf("child = %v, want the new node's", c)
	}
	rootLog.WaitFor(t, "distributed: child replaced", "the old child did not answer")
	old.Close()
}

// TestRefusedNodeBacksOff has a node lose its place to another live node
// while it was cut off: its reconnection attempts are refused, logged at
// Error, and made at the longest backoff delay; the holder is never evicted.
func TestRefusedNodeBacksOff(t *testing.T) {
	ctx := testutil.Context(t)
	var nodeLog testutil.LogBuf
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithLivenessTimeout(200*time.Millisecond))
	proxy := testutil.FaultProxy(t, addr)
	a := distributed.NewNode("game1", distributed.WithReconnectBackoff(time.Millisecond, 300*time.Millisecond),
		distributed.WithLogger(nodeLog.Logger()), distributed.WithDialOptions(rpc.WithTransportConfig(testutil.FastKeepalive())))
	defer a.Close()
	if err := a.Connect(ctx, proxy.Addr()); err != nil {
		t.Fatal(err)
	}
	lost := make(chan struct{}, 1)
	a.OnDisconnect(func(error) { lost <- struct{}{} })
	proxy.SetMode(faultproxy.BlackHole)
	b := connectNode(t, addr, "game1") // replaces a, which does not answer
	holder := root.Child("game1")
	if holder.Incarnation() != b.Incarnation() {
		t.Fatalf("holder %v is not b", holder)
	}
	<-lost
	proxy.SetMode(faultproxy.Pass)
	nodeLog.WaitFor(t, "level=ERROR", "distributed: node refused by the root", "node name taken")
	start := time.Now()
	mark := nodeLog.Mark()
	time.Sleep(time.Second)
	refusals := strings.Count(nodeLog.String()[mark:], "distributed: node refused by the root")
	// At the longest delay (150-300 ms jittered) a second holds at most 7;
	// at the first delays (1 ms and up) it would hold dozens.
	if limit := int(time.Since(start)/(150*time.Millisecond)) + 1; refusals > limit {
		t.Errorf("%d refusals in %v, want at most %d", refusals, time.Since(start), limit)
	}
	t.Logf("%d refusals in %v", refusals, time.Since(start))
	if got := root.Child("game1"); got != holder || !b.Connected() {
		t.Fatalf("the holder was evicted: child %v, want %v", got, holder)
	}
}

// TestRootRefusesUnprovedName: on a root that requires proved names, a node
// holding its own secret cannot join under another server's name, a node
// that proved nothing cannot join at all, and a node under its own name
// joins.
func TestRootRefusesUnprovedName(t *testing.T) {
	ctx := testutil.Context(t)
	var rootLog testutil.LogBuf
	keys := rpc.KeyringOf(map[string][]byte{"net": []byte("net's own secret"), "game2": []byte("game2's own secret")})
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithProvedNames(nil), distributed.WithLogger(rootLog.Logger()),
		distributed.WithServerOptions(rpc.WithKeyring(keys)))
	intruder := distributed.NewNode("game2", distributed.WithDialOptions(rpc.WithSharedSecret("net", []byte("net's own secret"))))
	defer intruder.Close()
	err := intruder.Connect(ctx, addr)
	if !errors.Is(err, rpc.ErrIdentityMismatch) {
		t.Fatalf("net joining as game2: %v, want ErrIdentityMismatch", err)
	}
	if root.Child("game2") != nil {
		t.Fatal("the root holds a game2 that net registered")
	}
	rootLog.WaitFor(t, "level=WARN", "its name is not the identity it proved", "name=game2", "proved=net")
	n := distributed.NewNode("game2", distributed.WithDialOptions(rpc.WithSharedSecret("game2", []byte("game2's own secret"))))
	defer n.Close()
	if err := n.Connect(ctx, addr); err != nil {
		t.Fatalf("game2 under its own name: %v", err)
	}

	// A root without authentication proves no name: every node is refused.
	_, open := startRoot(t, "127.0.0.1:0", distributed.WithProvedNames(nil))
	plain := distributed.NewNode("game1")
	defer plain.Close()
	if err := plain.Connect(ctx, open); !errors.Is(err, rpc.ErrIdentityMismatch) {
		t.Fatalf("an unauthenticated node: %v, want ErrIdentityMismatch", err)
	}
}

func TestTakeProxyIncarnationBounds(t *testing.T) {
	_, addr := startRoot(t, "127.0.0.1:0")
	ctx := testutil.Context(t)
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	proxy := distributed.NewProxyReference(distributed.NewService("x"))
	for _, args := range [][]any{{"n", proxy, strings.Repeat("i", 256)}, {"n", proxy, "a", "b"}} {
		var remote *rpc.Ref
		if err := conn.Root().Call(ctx, "takeProxy", &remote, args...); !errors.Is(err, rpc.ErrBadArguments) {
			t.Errorf("takeProxy with %d arguments = %v, want ErrBadArguments", len(args), err)
		}
	}
}
