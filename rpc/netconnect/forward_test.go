package netconnect

import (
	"context"
	"fmt"
	"maps"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// miniCluster is net -> gate -> game in one process over loopback: a gate
// root, a game node and a net node whose front-end forwards to the gate.
type miniCluster struct {
	gate *Gate
	root *distributed.Root
	srv  *Server
	addr string
	node *distributed.Node // net's node, joined to the gate
	// rootAddr is where the gate's root listens.
	rootAddr string

	mu   sync.Mutex
	lost []string
}

func startMiniCluster(t testing.TB, opts ...Option) *miniCluster {
	return startMiniClusterRoot(t, nil, opts...)
}

// startMiniClusterRoot is startMiniCluster with options for the gate's
// root.
func startMiniClusterRoot(t testing.TB, rootOpts []distributed.Option, opts ...Option) *miniCluster {
	t.Helper()
	ctx := context.Background()
	m := &miniCluster{}
	root, err := distributed.NewRoot(rootOpts...)
	if err != nil {
		t.Fatal(err)
	}
	m.root = root
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go root.Serve(ln)
	t.Cleanup(func() { root.Close() })
	m.gate = NewGate(root)
	err = m.gate.HandleForwarding(func(ctx context.Context, f Forwarded) ([]byte, error) {
		switch f.Command {
		case 1001:
			return welcome(ctx, root, f)
		case 1002:
			return nil, m.gate.Broadcast(ctx, f.Net, 2001, f.Data)
		case 1003:
			return nil, m.gate.Push(ctx, f.Net, 2002, f.Data, f.Session)
		case 1004:
			time.Sleep(5 * time.Millisecond) // a slow gate
			return f.Data, nil
		case 1005:
			return []byte(f.Net), nil
		case 1006:
			<-ctx.Done() // a gate that never answers
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("unknown command %d", f.Command)
	})
	if err != nil {
		t.Fatal(err)
	}
	m.gate.OnSessionLost(func(ctx context.Context, net string, session uint64) {
		m.mu.Lock()
		m.lost = append(m.lost, fmt.Sprintf("%s/%d", net, session))
		m.mu.Unlock()
	})
	game := distributed.NewNode("game1")
	game.Service().Map("handle", func(player string) string { return "game1 welcomes " + player })
	if err := game.Connect(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { game.Close() })
	node := distributed.NewNode("net")
	if err := node.Connect(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	srv, addr := startServer(t, opts...)
	if err := srv.Forward(Link{Call: node.CallRemote, Service: node.Service()}); err != nil {
		t.Fatal(err)
	}
	m.srv, m.addr, m.node, m.rootAddr = srv, addr, node, ln.Addr().String()
	return m
}

func TestForwardThroughGate(t *testing.T) {
	m := startMiniCluster(t)
	ctx := testutil.Context(t)
	a, b := dial(t, m.addr), dial(t, m.addr)
	got, err := a.Request(ctx, 1001, []byte("game1 alice"))
	if want := "net -> gate -> game1 -> gate -> net: game1 welcomes alice"; err != nil || string(got) != want {
		t.Fatalf("1001: %q, %v; want %q", got, err, want)
	}
	// 1002: the gate pushes the text to every client.
	if err := b.Send(ctx, 1002, []byte("hello all")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b} {
		p, err := c.Recv(ctx)
		if err != nil || p.Command != 2001 || string(p.Body) != "hello all" {
			t.Fatalf("push: %+v %v", p, err)
		}
	}
	// 1003: the gate pushes to the sender's session alone.
	if err := a.Send(ctx, 1003, []byte("just you")); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Recv(ctx); err != nil || p.Command != 2002 || string(p.Body) != "just you" {
		t.Fatalf("push to one: %+v %v", p, err)
	}
	// A lost session reaches the gate.
	var id uint64
	for _, s := range m.srv.Sessions() {
		if s.RemoteAddr().String() == a.LocalAddr().String() {
			id = s.ID()
		}
	}
	a.Close()
	want := fmt.Sprintf("net/%d", id)
	testutil.Eventually(t, "the gate to hear of the lost session", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.lost) == 1 && m.lost[0] == want
	})
	// The gate closes a session.
	var bid uint64
	for _, s := range m.srv.Sessions() {
		bid = s.ID()
	}
	if open, err := m.gate.CloseSession(ctx, "net", bid); err != nil || !open {
		t.Fatalf("CloseSession: %v %v", open, err)
	}
	<-b.Done()
}

// TestForwardIsOverridable: a handler of the game's own takes its command
// over; the rest still goes to the gate.
func TestForwardIsOverridable(t *testing.T) {
	m := startMiniCluster(t)
	m.srv.Service().Handle(1001, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return []byte("answered at net"), nil
	})
	c := dial(t, m.addr)
	ctx := testutil.Context(t)
	if got, err := c.Request(ctx, 1001, []byte("game1 alice")); err != nil || string(got) != "answered at net" {
		t.Fatalf("%q %v", got, err)
	}
	if err := c.Send(ctx, 1002, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Recv(ctx); err != nil || p.Command != 2001 {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestForwardBurstWaits: a burst of packets past the gate's handler limit
// waits on the front-end's side of the rpc connection (the limit the gate
// announced) and every packet is answered; the gate refuses none.
func TestForwardBurstWaits(t *testing.T) {
	const maxHandlers, clients = 2, 100
	m := startMiniClusterRoot(t, []distributed.Option{distributed.WithServerOptions(rpc.WithMaxHandlers(maxHandlers))})
	ctx := testutil.Context(t)
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = dial(t, m.addr)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range cs {
		wg.Go(func() {
			want := fmt.Sprint("client ", i)
			reqCtx, cancel := context.WithTimeout(ctx, hangGuard)
			defer cancel()
			if got, err := c.Request(reqCtx, 1004, []byte(want)); err != nil || string(got) != want {
				t.Errorf("client %d: %q, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	// Each packet holds one of the gate's two handlers for 5 ms: the burst
	// took at least clients/maxHandlers of those turns.
	if d, least := time.Since(start), clients/maxHandlers*5*time.Millisecond; d < least {
		t.Errorf("burst answered in %v, less than the %v the gate's limit allows", d, least)
	}
	if n := len(m.srv.Stats().Errors); n != 0 {
		t.Errorf("%d forwarded packets failed", n)
	}
	if n := m.root.Stats().Errors["overloaded"]; n != 0 {
		t.Errorf("the gate refused %d calls as overloaded", n)
	}
}

// TestGateKnowsItsFrontends: Forwarded.Net names the front-end a packet
// came through, for two front-ends and for one that joined again on a new
// connection.
func TestGateKnowsItsFrontends(t *testing.T) {
	m := startMiniCluster(t)
	ctx := testutil.Context(t)
	join := func(name string) (*distributed.Node, string) {
		node := distributed.NewNode(name)
		if err := node.Connect(ctx, m.rootAddr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		srv, addr := startServer(t)
		if err := srv.Forward(Link{Call: node.CallRemote}); err != nil {
			t.Fatal(err)
		}
		return node, addr
	}
	ask := func(addr, want string) {
		t.Helper()
		if got, err := dial(t, addr).Request(ctx, 1005, nil); err != nil || string(got) != want {
			t.Fatalf("through %s: %q, %v; want %q", want, got, err, want)
		}
	}
	n2, addr2 := join("net2")
	ask(m.addr, "net")
	ask(addr2, "net2")
	n2.Close()
	testutil.Eventually(t, "net2 to leave the gate", func() bool { return m.root.Child("net2") == nil })
	_, addr3 := join("net2")
	ask(addr3, "net2")
	ask(m.addr, "net")
}

// TestGateReadsFrontendStats: the gate reads a front-end's counters over
// the rpc link (StatsCommand), as the front-end's Stats has them.
func TestGateReadsFrontendStats(t *testing.T) {
	m := startMiniCluster(t)
	ctx := testutil.Context(t)
	c := dial(t, m.addr)
	for range 3 {
		if _, err := c.Request(ctx, 1001, []byte("game1 alice")); err != nil {
			t.Fatal(err)
		}
	}
	// The third reply is counted once its write returned, which may be
	// after the client read it.
	testutil.Eventually(t, "the replies to be counted", func() bool { return m.srv.Stats().PacketsOut == 3 })
	st, err := m.gate.Stats(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 1 || st.SessionsTotal != 1 || st.PacketsIn != 3 || st.PacketsOut != 3 || st.BytesIn == 0 {
		t.Fatalf("stats through the gate: %+v", st)
	}
	here := m.srv.Stats()
	if !maps.Equal(here.Errors, st.Errors) || !maps.Equal(here.Closed, st.Closed) {
		t.Fatalf("maps through the gate %v %v; the server's %v %v", st.Errors, st.Closed, here.Errors, here.Closed)
	}
	here.Errors, here.Closed, st.Errors, st.Closed = nil, nil, nil, nil
	if !reflect.DeepEqual(here, st) {
		t.Fatalf("stats through the gate %+v; the server's %+v", st, here)
	}
}
