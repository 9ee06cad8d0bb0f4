package netconnect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

func TestRequestReplyAndCatchAll(t *testing.T) {
	srv, addr := startServer(t)
	srv.Service().Handle(1001, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return append([]byte("welcome "), body...), nil
	})
	srv.Service().Handle(1003, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return nil, nil // no reply
	})
	srv.Service().Handle(1004, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return nil, errors.New("refused")
	})
	srv.Service().Handle(1005, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		panic("boom")
	})
	srv.Service().Handle(1006, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return []byte{}, nil // an empty reply is a reply
	})
	c := dial(t, addr)
	ctx := testutil.Context(t)
	if got, err := c.Request(ctx, 1001, []byte("alice")); err != nil || string(got) != "welcome alice" {
		t.Fatalf("1001: %q, %v", got, err)
	}
	// Without a handler or a catch-all: nothing comes back, the session
	// goes on.
	for _, cmd := range []uint32{7, 1003, 1004, 1005} {
		if err := c.Send(ctx, cmd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Request(ctx, 1006, nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("1006: %q, %v", got, err)
	}
	st := srv.Stats()
	if want := map[string]uint64{"no_handler": 1, "handler": 1, "panic": 1}; !maps.Equal(st.Errors, want) {
		t.Fatalf("stats: errors %v; want %v", st.Errors, want)
	}
	srv.Service().Handle(CatchAll, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return fmt.Appendf(nil, "catch-all %d %s", cmd, body), nil
	})
	if got, err := c.Request(ctx, 42, []byte("hi")); err != nil || string(got) != "catch-all 42 hi" {
		t.Fatalf("42: %q, %v", got, err)
	}
	if got, err := c.Request(ctx, 1001, []byte("bob")); err != nil || string(got) != "welcome bob" {
		t.Fatalf("1001 beside a catch-all: %q, %v", got, err)
	}
	select {
	case <-c.Done():
		t.Fatalf("client ended: %v", c.Err())
	default:
	}
}

func TestSessionsHooksAndValues(t *testing.T) {
	srv, addr := startServer(t)
	var mu sync.Mutex
	lost := map[uint64]error{}
	lostc := make(chan uint64, 10)
	srv.OnConnect(func(s *Session) { s.Set("player", fmt.Sprint("p", s.ID())) })
	srv.OnLost(func(s *Session, err error) {
		mu.Lock()
		lost[s.ID()] = err
		mu.Unlock()
		lostc <- s.ID()
	})
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return fmt.Appendf(nil, "%d %v %s", s.ID(), s.Value("player"), s.RemoteAddr()), nil
	})
	ctx := testutil.Context(t)
	var clients []*Client
	var ids []string
	for range 3 {
		c := dial(t, addr)
		got, err := c.Request(ctx, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		var id uint64
		var player, remote string
		fmt.Sscan(string(got), &id, &player, &remote)
		if player != fmt.Sprint("p", id) || remote != c.LocalAddr().String() {
			t.Fatalf("session said %q; client at %v", got, c.LocalAddr())
		}
		ids = append(ids, fmt.Sprint(id))
		clients = append(clients, c)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 || srv.Len() != 3 {
		t.Fatalf("ids %v, %d sessions", ids, srv.Len())
	}
	clients[0].Close()
	id := <-lostc
	mu.Lock()
	err := lost[id]
	mu.Unlock()
	if fmt.Sprint(id) != ids[0] || err != io.EOF {
		t.Fatalf("lost %d with %v; want %s with EOF", id, err, ids[0])
	}
	if srv.Len() != 2 || srv.Session(id) != nil || srv.Stats().Closed["client"] != 1 {
		t.Fatalf("after a client left: %d sessions, stats %+v", srv.Len(), srv.Stats())
	}
}

func TestPushAndBroadcast(t *testing.T) {
	srv, addr := startServer(t)
	var ids []uint64
	var mu sync.Mutex
	srv.OnConnect(func(s *Session) {
		mu.Lock()
		ids = append(ids, s.ID())
		mu.Unlock()
	})
	ctx := testutil.Context(t)
	var clients []*Client
	for range 3 {
		clients = append(clients, dial(t, addr))
	}
	testutil.Eventually(t, "three sessions", func() bool { return srv.Len() == 3 })
	mu.Lock()
	byID := map[uint64]int{}
	for _, s := range srv.Sessions() {
		// match sessions to clients by address
		for i, c := range clients {
			if s.RemoteAddr().String() == c.LocalAddr().String() {
				byID[s.ID()] = i
			}
		}
	}
	mu.Unlock()
	target := []uint64{}
	for id, i := range byID {
		if i != 1 {
			target = append(target, id)
		}
	}
	n, err := srv.Push(2001, []byte("to two"), append(target, 999)...)
	if err != nil || n != 2 {
		t.Fatalf("Push: %d, %v; want 2", n, err)
	}
	if n, err := srv.Broadcast(2002, []byte("to all")); err != nil || n != 3 {
		t.Fatalf("Broadcast: %d, %v", n, err)
	}
	for i, c := range clients {
		var want []Packet
		if i != 1 {
			want = append(want, Packet{2001, []byte("to two")})
		}
		want = append(want, Packet{2002, []byte("to all")})
		for _, w := range want {
			p, err := c.Recv(ctx)
			if err != nil || p.Command != w.Command || string(p.Body) != string(w.Body) {
				t.Fatalf("client %d: %+v %v, want %+v", i, p, err, w)
			}
		}
	}
	if _, err := srv.Push(1, make([]byte, DefaultMaxBody+1), target...); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pushing a body too large: %v", err)
	}
}

func TestCloseSessionFlushes(t *testing.T) {
	srv, addr := startServer(t)
	lost := make(chan error, 1)
	srv.OnLost(func(s *Session, err error) { lost <- err })
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		s.Send(2, []byte("bye"))
		srv.CloseSession(s.ID())
		if err := s.Send(3, nil); !errors.Is(err, ErrSessionClosed) {
			t.Errorf("Send after Close: %v", err)
		}
		<-ctx.Done()
		return nil, nil
	})
	c := dial(t, addr)
	ctx := testutil.Context(t)
	c.Send(ctx, 1, nil)
	p, err := c.Recv(ctx)
	if err != nil || p.Command != 2 || string(p.Body) != "bye" {
		t.Fatalf("packet queued before Close: %+v %v", p, err)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, ErrClientClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("after the server closed the session: %v", err)
	}
	if err := <-lost; !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("reason %v", err)
	}
	if srv.CloseSession(12345) {
		t.Fatal("closed a session that does not exist")
	}
}

// TestIdleSessionGoroutines: an idle session holds one goroutine; the
// writer a push starts exits once the packet is written.
func TestIdleSessionGoroutines(t *testing.T) {
	srv, addr := startServer(t)
	base := runtime.NumGoroutine()
	const n = 50
	var conns []net.Conn
	for range n {
		conns = append(conns, dialRaw(t, addr))
	}
	testutil.Eventually(t, "sessions", func() bool { return srv.Len() == n })
	if g := runtime.NumGoroutine() - base; g > n {
		t.Fatalf("%d goroutines for %d idle sessions", g, n)
	}
	if k, _ := srv.Broadcast(1, []byte("hello")); k != n {
		t.Fatalf("broadcast reached %d", k)
	}
	buf := make([]byte, HeaderSize+5)
	for _, c := range conns {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "the writers to exit", func() bool { return runtime.NumGoroutine()-base <= n })
}

func TestShutdownClosesEverything(t *testing.T) {
	srv := NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	c := dial(t, ln.Addr().String())
	testutil.Eventually(t, "a session", func() bool { return srv.Len() == 1 })
	srv.Broadcast(9, []byte("last"))
	if err := srv.Shutdown(testutil.Context(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	ctx := testutil.Context(t)
	if p, err := c.Recv(ctx); err != nil || string(p.Body) != "last" {
		t.Fatalf("packet queued before Shutdown: %+v, %v", p, err)
	}
	if _, err := c.Recv(ctx); err == nil {
		t.Fatal("session still open after Shutdown")
	}
	if err := srv.Serve(ctx, ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// wrapListener hands out connections that are not *net.TCPConn, so every
// write goes through the session's writer goroutine.
type wrapListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

func TestWrappedConnWrites(t *testing.T) {
	srv := NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), wrapListener{ln})
	t.Cleanup(func() { srv.Close() })
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		if s.raw != nil {
			t.Error("a wrapped connection is written beneath its wrapper")
		}
		return body, nil
	})
	c := dial(t, ln.Addr().String())
	ctx := testutil.Context(t)
	for i := range 20 {
		want := fmt.Sprint("packet ", i)
		if got, err := c.Request(ctx, 1, []byte(want)); err != nil || string(got) != want {
			t.Fatalf("%q %v", got, err)
		}
	}
	srv.Broadcast(2, []byte("all"))
	if p, err := c.Recv(ctx); err != nil || string(p.Body) != "all" {
		t.Fatalf("%+v %v", p, err)
	}
}
