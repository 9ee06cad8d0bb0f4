package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// testConfig is gate (root), net and game1 (nodes of gate), dbfront (no
// root), all on loopback.
func testConfig(t *testing.T) *Config {
	p := testutil.FreePorts(t, 3)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {
			"gate": {"rootport": %d},
			"net": {"remoteport": [{"rootname": "gate"}]},
			"game1": {"remoteport": [{"rootname": "gate"}], "app": "game"},
			"dbfront": {}
		}}`, p[0], p[1], p[2]))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var fast = []Option{WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond)}

// startMaster runs a master for cfg until the test ends or stop is called.
func startMaster(t *testing.T, cfg *Config) (m *Master, stop func()) {
	t.Helper()
	m, err := NewMaster(cfg, fast...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("master Run: %v", err)
		}
	})
	t.Cleanup(stop)
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", cfg.MasterAddr())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return m, stop
}

// startServer runs server name until the test ends or stop is called.
func startServer(t *testing.T, cfg *Config, name string, app App) (s *Server, stop func()) {
	t.Helper()
	s, err := NewServer(cfg, name, app, fast...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server %s Run: %v", name, err)
		}
	})
	t.Cleanup(stop)
	return s, stop
}

// apps: gate forwards "ask" to a game; game answers; both record hooks.
type hooks struct {
	mu      sync.Mutex
	stopped []string
	reloads []string
}

func (h *hooks) add(list *[]string, name string) {
	h.mu.Lock()
	*list = append(*list, name)
	h.mu.Unlock()
}

func (h *hooks) get(list *[]string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), (*list)...)
}

func testApps(h *hooks) Apps {
	common := func(s *Server) {
		s.OnStop(func(context.Context) { h.add(&h.stopped, s.Name()) })
		s.OnReload(func(context.Context) error {
			h.add(&h.reloads, s.Name())
			if s.Name() == "net" {
				return errors.New("net cannot reload")
			}
			return nil
		})
	}
	return Apps{
		"gate": func(ctx context.Context, s *Server) error {
			common(s)
			return s.Root().Service().Map("ask", func(ctx context.Context, game, q string) (string, error) {
				var a string
				err := s.Root().CallChild(ctx, game, "answer", &a, q)
				return "gate(" + a + ")", err
			})
		},
		"game": func(ctx context.Context, s *Server) error {
			common(s)
			return s.NodeService("gate").Map("answer", func(q string) string { return s.Name() + ":" + q })
		},
		"net": func(ctx context.Context, s *Server) error {
			common(s)
			return nil
		},
		"dbfront": func(ctx context.Context, s *Server) error {
			common(s)
			return nil
		},
	}
}

// reloadTestApps reloads the four servers of testApps through the admin
// endpoints at addr: every hook runs, net's error comes back.
func reloadTestApps(t *testing.T, addr string, h *hooks) {
	t.Helper()
	res, err := Reload(context.Background(), addr)
	if !errors.Is(err, ErrAdmin) || !strings.Contains(err.Error(), "net cannot reload") {
		t.Errorf("Reload error = %v", err)
	}
	if len(res.Servers) != 4 || len(res.Errors) != 1 {
		t.Errorf("Reload result = %+v", res)
	}
	if got := len(h.get(&h.reloads)); got != 4 {
		t.Errorf("%d reload hooks ran, want 4", got)
	}
}

// stopTestApps stops the four servers of testApps through the admin
// endpoints at addr of m: stops hooks have run that many times in all,
// every server left, and the master is done.
func stopTestApps(t *testing.T, m *Master, addr string, h *hooks, stops int) {
	t.Helper()
	res, err := Stop(context.Background(), addr)
	if err != nil || len(res.Servers) != 4 {
		t.Fatalf("Stop = %+v, %v", res, err)
	}
	if got := h.get(&h.stopped); len(got) != stops {
		t.Errorf("stop hooks ran for %v, want %d runs", got, stops)
	}
	select {
	case <-m.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("master not done after Stop")
	}
	if rm := m.RemoteMap(); len(rm) != 0 {
		t.Errorf("remote map after stop: %v", rm)
	}
}

// ask calls gate's "ask" from net, retrying until it works or 10 s pass.
func ask(t *testing.T, net *Server, q string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		var a string
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		last = net.CallRemote(cctx, "gate", "ask", &a, "game1", q)
		ccancel()
		if last == nil {
			return a
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ask %q: %v", q, last)
	return ""
}

func waitMap(t *testing.T, m *Master, names ...string) map[string]Remote {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rm := m.RemoteMap()
		ok := len(rm) == len(names)
		for _, n := range names {
			if _, in := rm[n]; !in {
				ok = false
			}
		}
		if ok {
			return rm
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote map %v, want %v", rm, names)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterInProcess(t *testing.T) {
	cfg := testConfig(t)
	h := &hooks{}
	apps := testApps(h)
	m, stopMaster := startMaster(t, cfg)

	// Nodes first, then their root, then another node.
	startServer(t, cfg, "game1", apps.For(cfg.Servers["game1"]))
	startServer(t, cfg, "dbfront", apps.For(cfg.Servers["dbfront"]))
	_, stopGate := startServer(t, cfg, "gate", apps.For(cfg.Servers["gate"]))
	net, _ := startServer(t, cfg, "net", apps.For(cfg.Servers["net"]))

	if got := ask(t, net, "hi"); got != "gate(game1:hi)" {
		t.Fatalf("ask = %q", got)
	}
	rm := waitMap(t, m, "dbfront", "game1", "gate", "net")
	if r := rm["net"]; r.Host != "127.0.0.1" || len(r.Roots) != 1 || r.Roots[0] != "gate" {
		t.Errorf("remote map net = %+v", r)
	}

	// gate restarts: net and game1 join it again on the master's orders.
	stopGate()
	waitMap(t, m, "dbfront", "game1", "net")
	startServer(t, cfg, "gate", apps.For(cfg.Servers["gate"]))
	if got := ask(t, net, "again"); got != "gate(game1:again)" {
		t.Fatalf("ask after gate restart = %q", got)
	}

	// The master restarts: every server joins the new one.
	stopMaster()
	m, _ = startMaster(t, cfg)
	waitMap(t, m, "dbfront", "game1", "gate", "net")
	if got := ask(t, net, "third"); got != "gate(game1:third)" {
		t.Fatalf("ask after master restart = %q", got)
	}

	// Admin over HTTP: reload reaches everybody and reports net's error.
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	ctx := context.Background()
	reloadTestApps(t, addr, h)
	st, err := Status(ctx, addr)
	if err != nil || len(st) != 4 || st["gate"].Host != "127.0.0.1" {
		t.Errorf("Status = %v, %v", st, err)
	}

	// Stop: every server runs its stop hook and leaves; the master is done.
	stopTestApps(t, m, addr, h, 5) // gate ran its hook twice: once per run
	if _, err := Stop(ctx, addr); err == nil {
		t.Error("a second Stop succeeded")
	}
}

// A fake server records the orders the master sends it.
func TestMasterTellsTheRootsHost(t *testing.T) {
	cfg := testConfig(t)
	m, _ := startMaster(t, cfg)
	orders := make(chan string, 10)
	join := func(name string) *distributed.Node {
		n := distributed.NewNode(name)
		n.Service().Map(CmdRemoteConnect, func(root, host string) {
			orders <- name + "->" + root + "@" + host
		})
		if err := n.Connect(context.Background(), cfg.MasterAddr()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	next := func() string {
		select {
		case o := <-orders:
			return o
		case <-time.After(5 * time.Second):
			t.Fatal("no order")
			return ""
		}
	}
	join("net")
	gate := join("gate")
	if o := next(); o != "net->gate@127.0.0.1" {
		t.Errorf("order %q", o)
	}
	join("game1")
	if o := next(); o != "game1->gate@127.0.0.1" {
		t.Errorf("order %q", o)
	}
	gate.Close()
	waitMap(t, m, "net", "game1")
	select {
	case o := <-orders:
		t.Errorf("order %q after gate left", o)
	case <-time.After(50 * time.Millisecond):
	}
	// A name the config does not have is kept, with no roots.
	join("stranger")
	if rm := waitMap(t, m, "net", "game1", "stranger"); len(rm["stranger"].Roots) != 0 {
		t.Errorf("stranger = %+v", rm["stranger"])
	}
}

func TestServerErrors(t *testing.T) {
	cfg := testConfig(t)
	if _, err := NewServer(cfg, "nobody", nil); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("NewServer(nobody) = %v", err)
	}
	s, err := NewServer(cfg, "net", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CallRemote(context.Background(), "chat", "x", nil); !errors.Is(err, ErrNoSuchRoot) {
		t.Errorf("CallRemote to a root net does not join = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.CallRemote(ctx, "gate", "x", nil); !errors.Is(err, ErrNotJoined) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallRemote before joining = %v", err)
	}
	if s.NodeService("gate") == nil || s.NodeService("chat") != nil || s.Root() != nil || s.Node("gate") != nil {
		t.Error("net's services")
	}
	boom := errors.New("boom")
	s2, _ := NewServer(cfg, "gate", func(context.Context, *Server) error { return boom })
	if err := s2.Run(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Run with a failing app = %v", err)
	}
	if _, err := NewMaster(&Config{}); !errors.Is(err, ErrNoMaster) {
		t.Errorf("NewMaster without master = %v", err)
	}
}
