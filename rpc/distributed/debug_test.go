package distributed_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/faultproxy"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// getRootDebug fetches h's page from a test HTTP server and decodes it.
func getRootDebug(t *testing.T, h http.Handler) distributed.DebugPage {
	t.Helper()
	hs := httptest.NewServer(h)
	defer hs.Close()
	resp, err := hs.Client().Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET: %s, %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var p distributed.DebugPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return p
}

// readVar decodes the expvar variable ev into v.
func readVar(t *testing.T, ev rpc.ExpvarFunc, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(ev.String()), v); err != nil {
		t.Fatalf("%v in %s", err, ev.String())
	}
}

func TestRootDebugHandler(t *testing.T) {
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithServerOptions(rpc.WithIntrospection(true)))
	root.Service().MapID(101, func(a, b int) int { return a + b })
	connectNode(t, addr, "game2")
	connectNode(t, addr, "game1")
	p := getRootDebug(t, root.DebugHandler())
	if p.Children != 2 || len(p.ChildList) != 2 || p.ChildList[0].Name != "game1" || p.ChildList[1].Name != "game2" {
		t.Fatalf("children %d %+v", p.Children, p.ChildList)
	}
	if p.ChildList[0].Remote == "" || p.ChildList[0].ID == 0 {
		t.Fatalf("child %+v", p.ChildList[0])
	}
	if len(p.Conns) != 2 || p.Conns[0].Remote > p.Conns[1].Remote {
		t.Fatalf("conns not sorted: %+v", p.Conns)
	}
	if len(p.Service) != 1 || p.Service[0].Name != "101" {
		t.Fatalf("service %+v", p.Service)
	}
	if len(p.Methods) != 1 || p.Methods[0].Name != "TakeProxy" {
		t.Fatalf("root methods %+v", p.Methods)
	}
}

func TestRootExpvar(t *testing.T) {
	root, addr := startRoot(t, "127.0.0.1:0")
	root.Service().Map("ping", func() string { return "pong" })
	node := connectNode(t, addr, "game1")
	if err := node.CallRemote(testutil.Context(t), "ping", nil); err != nil {
		t.Fatal(err)
	}
	var st distributed.Stats
	readVar(t, root.Expvar(), &st)
	if st.Children != 1 || st.Conns != 1 || st.CallsIn != 2 {
		t.Fatalf("root stats: %+v", st)
	}
	var raw map[string]any
	readVar(t, root.Expvar(), &raw)
	if raw["Children"] != 1.0 || raw["CallsIn"] != 2.0 {
		t.Fatalf("root var is not flat: %v", raw)
	}
}

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

// TestRootNodeSharedSecret runs Firefly's layer with the pass-through
// options: the root requires the secret, the node presents it, and the
// root's service targets see the node's identity.
func TestRootNodeSharedSecret(t *testing.T) {
	keys := rpc.KeyringOf(map[string][]byte{"game-1": []byte("cluster secret")})
	root, err := distributed.NewRoot(distributed.WithServerOptions(rpc.WithKeyring(keys)))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	err = root.Service().Map("whoami", func(ctx context.Context) string {
		p, _ := rpc.PeerFromContext(ctx)
		return p.Identity
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go root.Serve(ln)
	ctx := testutil.Context(t)

	intruder := distributed.NewNode("intruder", distributed.WithDialOptions(rpc.WithSharedSecret("game-1", []byte("guessed"))))
	defer intruder.Close()
	if err := intruder.Connect(ctx, ln.Addr().String()); !errors.Is(err, rpc.ErrAuthFailed) {
		t.Fatalf("a node with the wrong secret: %v, want ErrAuthFailed", err)
	}
	n := distributed.NewNode("game-1", distributed.WithDialOptions(rpc.WithSharedSecret("game-1", []byte("cluster secret"))))
	defer n.Close()
	if err := n.Connect(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	var who string
	if err := n.CallRemote(ctx, "whoami", &who); err != nil || who != "game-1" {
		t.Fatalf("whoami = %q, %v", who, err)
	}
	if c := root.Child("game-1"); c == nil || c.Conn().Peer().Identity != "game-1" {
		t.Fatalf("the root's child: %v", c)
	}
}
