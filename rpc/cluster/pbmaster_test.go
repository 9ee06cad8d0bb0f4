package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/pyproc"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// pbMasterConfig is testConfig with the master on the PB wire.
func pbMasterConfig(t *testing.T) *Config {
	cfg := testConfig(t)
	cfg.Master.Wire = WirePB
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Go servers under a Go master on the PB wire: they register over PB, the
// master sees their hosts and tells them where gate is, and its status,
// cluster view, reload and stop work as on the firefly wire.
func TestPBMasterGoServers(t *testing.T) {
	cfg := pbMasterConfig(t)
	if !cfg.MasterPB() {
		t.Fatal("MasterPB false")
	}
	h := &hooks{}
	apps := testApps(h)
	m, _ := startMaster(t, cfg)
	game1, _ := startServer(t, cfg, "game1", apps.For(cfg.Servers["game1"]))
	dbfront, _ := startServer(t, cfg, "dbfront", apps.For(cfg.Servers["dbfront"]))
	gate, _ := startServer(t, cfg, "gate", apps.For(cfg.Servers["gate"]))
	net, _ := startServer(t, cfg, "net", apps.For(cfg.Servers["net"]))

	if got := ask(t, net, "hi"); got != "gate(game1:hi)" {
		t.Fatalf("ask = %q", got)
	}
	rm := waitMap(t, m, "dbfront", "game1", "gate", "net")
	for name, r := range rm {
		if r.Host != "127.0.0.1" {
			t.Errorf("remote map %s = %+v, want host 127.0.0.1", name, r)
		}
	}
	for _, name := range []string{"dbfront", "game1", "gate", "net"} {
		c := m.Root().Child(name)
		if c == nil || c.Conn() != nil {
			t.Errorf("master's child %s: %v, want one on the PB wire (no *rpc.Conn)", name, c)
		}
	}
	// The master records game1 when its takeProxy arrives; game1 installs
	// the link when the answer is back.
	testutil.Eventually(t, "game1's master link up", game1.Master().Connected)
	if l := game1.Master().Link(); l == nil || game1.Master().Conn() != nil {
		t.Errorf("game1's master link %T, want a PB one", l)
	}
	testutil.Eventually(t, "gate sees game1 and net", func() bool {
		return len(gate.Status().Root.Children) == 2
	})
	// The master records a server when its takeProxy arrives; the server
	// counts itself joined when the answer is back.
	testutil.Eventually(t, "every server sees its master link up", func() bool {
		for _, s := range []*Server{dbfront, game1, gate, net} {
			if !s.Status().Master {
				return false
			}
		}
		return true
	})

	web := httptest.NewServer(m.Handler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	ctx := testutil.Context(t)
	cs, err := ClusterStatus(ctx, addr)
	if err != nil || len(cs) != 4 {
		t.Fatalf("ClusterStatus = %+v, %v", cs, err)
	}
	for _, st := range cs {
		if st.Error != "" || !st.Master || st.Host != "127.0.0.1" {
			t.Errorf("ClusterStatus %s = %+v", st.Server, st)
		}
		if st.Server == "gate" && (st.Root == nil || strings.Join(st.Root.Children, ",") != "game1,net") {
			t.Errorf("gate's root over PB: %+v", st.Root)
		}
	}

	reloadTestApps(t, addr, h)
	stopTestApps(t, m, addr, h, 4)
}

// A Go server whose config says the master speaks PB does not register
// with a master on the firefly wire (and the other way round): each wire
// refuses the other's handshake, and the map stays empty.
func TestMasterWireMismatch(t *testing.T) {
	pbCfg := pbMasterConfig(t)
	ffCfg := *pbCfg
	ffMaster := *pbCfg.Master
	ffMaster.Wire = ""
	ffCfg.Master = &ffMaster
	for _, tt := range []struct {
		name           string
		master, server *Config
	}{
		{"PB server, firefly master", &ffCfg, pbCfg},
		{"firefly server, PB master", pbCfg, &ffCfg},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := startMaster(t, tt.master)
			startServer(t, tt.server, "dbfront", nil)
			time.Sleep(300 * time.Millisecond)
			if rm := m.RemoteMap(); len(rm) != 0 {
				t.Errorf("remote map %v, want empty", rm)
			}
		})
	}
}

// pbMasterFile writes a config.json whose master (on 127.0.0.1, with a
// webport) speaks PB, with servers, a "servers" section in which %d
// stands for gate's rootport, for Python scripts to read; it returns its
// path and the parsed config.
func pbMasterFile(t *testing.T, servers string) (string, *Config) {
	t.Helper()
	p := testutil.FreePorts(t, 3)
	data := fmt.Appendf(nil, `{"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d, "wire": "pb"}, "servers": `+servers+`}`, p[0], p[1], p[2])
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// A Python Firefly server registers with a Go master on the PB wire: the
// master records it at the host it saw, tells it where its root (a Go root
// on the PB wire) is, and it joins it; sreload and the master's admin stop
// reach it as Firefly's master commands, and on serverStop it exits.
func TestPythonServerPBMaster(t *testing.T) {
	py := pyproc.Twisted(t)
	path, cfg := pbMasterFile(t, `{
		"gate": {"rootport": %d, "wire": "pb"},
		"pygame": {"remoteport": [{"rootname": "gate"}]}}`)
	ctx := testutil.Context(t)
	m, _ := startMaster(t, cfg)
	h := &hooks{}
	gate, _ := startServer(t, cfg, "gate", func(ctx context.Context, s *Server) error {
		s.OnStop(func(context.Context) { h.add(&h.stopped, s.Name()) })
		return s.Root().Service().Map("double", func(n int) int { return 2 * n })
	})
	waitMap(t, m, "gate")

	srv := pyproc.Start(t, py, pbScript("firefly_server.py"), path, "pygame")
	for _, want := range []string{"joined master", "remote_connect gate 127.0.0.1", "joined gate", "callTarget gate double 42"} {
		srv.WaitFor(t, want, func(l string) bool { return l == want })
	}
	rm := waitMap(t, m, "gate", "pygame")
	if r := rm["pygame"]; r.Host != "127.0.0.1" || len(r.Roots) != 1 || r.Roots[0] != "gate" {
		t.Errorf("remote map pygame = %+v", r)
	}
	var s string
	if err := gate.Root().CallChild(ctx, "pygame", "greet", &s, "gate"); err != nil || s != "hello gate from pygame" {
		t.Errorf("gate CallChild pygame greet: %q, %v", s, err)
	}

	addr := cfg.AdminAddr()
	cs, err := ClusterStatus(ctx, addr)
	if err != nil || len(cs) != 2 {
		t.Fatalf("ClusterStatus = %+v, %v", cs, err)
	}
	if st := cs[0]; st.Server != "gate" || st.Error != "" || !st.Ready || st.Root == nil || strings.Join(st.Root.Children, ",") != "pygame" {
		t.Errorf("ClusterStatus gate = %+v", st)
	}
	if st := cs[1]; st.Server != "pygame" || st.Host != "127.0.0.1" || !strings.Contains(st.Error, ErrNoStatus.Error()) ||
		len(st.Roots) != 1 || st.Roots[0].Root != "gate" {
		t.Errorf("ClusterStatus pygame = %+v, want the error of a server without serverStatus", st)
	}

	if res, err := Reload(ctx, addr); err != nil || len(res.Servers) != 2 {
		t.Errorf("Reload = %+v, %v", res, err)
	}
	srv.WaitFor(t, "sreload", func(l string) bool { return l == "sreload" })

	res, err := Stop(ctx, addr)
	if err != nil || strings.Join(res.Servers, ",") != "gate,pygame" {
		t.Errorf("Stop = %+v, %v", res, err)
	}
	srv.WaitFor(t, "serverStop", func(l string) bool { return l == "serverStop" })
	if err := srv.Wait(t); err != nil {
		t.Errorf("the Python server exited with %v", err)
	}
	srv.WaitFor(t, "the Python server to exit", func(l string) bool { return l == "exited" })
	if got := h.get(&h.stopped); len(got) != 1 {
		t.Errorf("gate's stop hook ran %d times", len(got))
	}
	select {
	case <-m.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("master not done after Stop")
	}
}

// Go servers register with a Python Firefly master (its config says
// "wire": "pb"): the master tells game1 where gate is and game1 joins it;
// when the master restarts they register again by themselves and are told
// again; the master's /reloadmodule and /stop run their hooks, and /stop
// ends their Run.
func TestGoServersPythonMaster(t *testing.T) {
	py := pyproc.Twisted(t)
	path, cfg := pbMasterFile(t, `{
		"gate": {"rootport": %d},
		"game1": {"remoteport": [{"rootname": "gate"}]}}`)
	startPyMaster := func() *pyproc.Proc {
		m := pyproc.Start(t, py, pbScript("firefly_master.py"), path)
		want := fmt.Sprintf("listening %d %d", cfg.Master.RootPort, cfg.Master.WebPort)
		m.WaitFor(t, "the Python master to listen", func(l string) bool { return l == want })
		return m
	}
	registered := func(m *pyproc.Proc) {
		t.Helper()
		for _, want := range []string{"takeProxy gate 127.0.0.1", "takeProxy game1 127.0.0.1", "remote_connect game1 gate 127.0.0.1", "remote_connect game1 -> None"} {
			m.WaitFor(t, want, func(l string) bool { return l == want })
		}
	}
	master := startPyMaster()

	h := &hooks{}
	done := make(map[string]chan error)
	servers := make(map[string]*Server)
	for _, name := range []string{"gate", "game1"} {
		s, err := NewServer(cfg, name, func(ctx context.Context, s *Server) error {
			s.OnStop(func(context.Context) { h.add(&h.stopped, s.Name()) })
			s.OnReload(func(context.Context) error { h.add(&h.reloads, s.Name()); return nil })
			if s.Root() != nil {
				return s.Root().Service().Map("double", func(n int) int { return 2 * n })
			}
			return nil
		}, fast...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		d := make(chan error, 1)
		done[name] = d
		go func() { d <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-d })
		servers[name] = s
	}
	ctx := testutil.Context(t)
	double := func(n int) {
		t.Helper()
		var got int
		if err := servers["game1"].CallRemote(ctx, "gate", "double", &got, n); err != nil || got != 2*n {
			t.Errorf("game1 CallRemote gate double %d: %d, %v", n, got, err)
		}
	}
	registered(master)
	double(21)
	// The Python master orders remote_connect from inside takeProxy, so
	// game1 has answered it before its own takeProxy's answer is back.
	testutil.Eventually(t, "game1's master link up", servers["game1"].Master().Connected)
	if l := servers["game1"].Master().Link(); l == nil || servers["game1"].Master().Conn() != nil {
		t.Errorf("game1's master link %T, want a PB one", l)
	}

	// The master restarts: the servers register again, game1 is told again.
	master.Kill()
	master = startPyMaster()
	registered(master)
	double(4)

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + cfg.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/reloadmodule"); got != "sreload" {
		t.Errorf("/reloadmodule answered %q", got)
	}
	for _, want := range []string{"sreload game1 -> None", "sreload gate -> None"} {
		master.WaitFor(t, want, func(l string) bool { return l == want })
	}
	if got := strings.Join(h.get(&h.reloads), ","); got != "game1,gate" && got != "gate,game1" {
		t.Errorf("reload hooks ran for %q", got)
	}
	if got := get("/stop"); got != "serverStop" {
		t.Errorf("/stop answered %q", got)
	}
	for name, d := range done {
		select {
		case err := <-d:
			if err != nil {
				t.Errorf("server %s Run: %v", name, err)
			}
			d <- nil // for the cleanup
		case <-time.After(10 * time.Second):
			t.Fatalf("server %s still runs after the master's /stop", name)
		}
	}
	if got := h.get(&h.stopped); len(got) != 2 {
		t.Errorf("stop hooks ran for %v", got)
	}
	if err := master.Wait(t); err != nil {
		t.Errorf("the Python master exited with %v", err)
	}
}

// On the PB wire the master cannot ask whether a child is alive, so a
// second server joining under a name replaces the live holder (whose
// connection is closed), where the firefly wire refuses the newcomer.
func TestPBMasterNameReplaced(t *testing.T) {
	cfg := pbMasterConfig(t)
	m, _ := startMaster(t, cfg)
	ctx := testutil.Context(t)
	join := func() *distributed.Node {
		n := distributed.NewNode("dbfront", distributed.WithDialer(pb.NodeDialer()))
		if err := n.Connect(ctx, cfg.MasterAddr()); err != nil {
			t.Fatalf("Connect: %v", err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	first := join()
	link := first.Link()
	waitMap(t, m, "dbfront")
	id := m.Root().Child("dbfront").ID()
	join()
	select {
	case <-link.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first server's link is still up")
	}
	if c := m.Root().Child("dbfront"); c == nil || c.ID() == id {
		t.Errorf("master's child dbfront: %v, want a new one (was %d)", c, id)
	}
}
