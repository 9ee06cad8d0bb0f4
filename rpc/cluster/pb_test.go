package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/internal/pyproc"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/pb"
)

// pbScript is a Python Firefly-shaped peer of rpc/pb's interop tests.
func pbScript(name string) string { return filepath.Join("..", "pb", "testdata", name) }

// A mixed cluster launched through rpc/cluster: gate is a Go root on the PB
// wire ("wire": "pb") that a Python Firefly node joins unchanged, and that
// the Go server game1 joins over PB where the master says; pyroot is a
// Python Firefly root (not a member of the Go master) that game1 joins over
// PB at its "dns" host, and joins again after the Python root is killed and
// started again.
func TestMixedClusterPB(t *testing.T) {
	py := pyproc.Twisted(t)
	p := testutil.FreePorts(t, 3)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d},
		"servers": {
			"gate": {"rootport": %d, "wire": "pb"},
			"pyroot": {"rootport": %d, "wire": "pb"},
			"game1": {"remoteport": [{"rootname": "gate"}, {"rootname": "pyroot", "dns": "127.0.0.1"}]}
		}}`, p[0], p[1], p[2]))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	startMaster(t, cfg)
	gateApp := func(ctx context.Context, s *Server) error {
		return errors.Join(
			s.Root().Service().Map("double", func(n int) int { return 2 * n }),
			s.Root().Service().Map("tagged", func(s string, kw pb.Kwargs) string { return fmt.Sprintf("%s/%v", s, kw["tag"]) }))
	}
	gameApp := func(ctx context.Context, s *Server) error {
		return errors.Join(
			s.NodeService("gate").Map("whoami", func() string { return "game1 on the PB wire" }),
			s.NodeService("pyroot").Map("greet", func(who string) string { return "hello " + who + " from game1" }),
			s.NodeService("pyroot").MapID(7, func(n int) int { return 7 * n }))
	}
	gate, _ := startServer(t, cfg, "gate", gateApp)
	testutil.Eventually(t, "gate listening", func() bool { return gate.Status().Root.Listening })

	// A Python Firefly node joins the Go root.
	node := pyproc.Start(t, py, pbScript("firefly_node.py"), "pynode", strconv.Itoa(p[1]))
	for _, want := range []string{"callTarget double 42", "callTarget tagged x/y"} {
		node.WaitFor(t, want, func(l string) bool { return l == want })
	}
	var s string
	if err := gate.Root().CallChild(ctx, "pynode", "greet", &s, "gate"); err != nil || s != "hello gate from pynode" {
		t.Errorf("gate CallChild pynode greet: %q, %v", s, err)
	}

	// The Python root; game1 joins it (dns) and gate (the master says).
	startRoot := func() *pyproc.Proc {
		r := pyproc.Start(t, py, pbScript("firefly_root.py"), strconv.Itoa(p[2]))
		r.WaitFor(t, "pyroot to listen", func(l string) bool { return l == "listening "+strconv.Itoa(p[2]) })
		return r
	}
	pyroot := startRoot()
	game1, _ := startServer(t, cfg, "game1", gameApp)
	calls := func(r *pyproc.Proc) {
		t.Helper()
		var n int
		if err := game1.CallRemote(ctx, "pyroot", "double", &n, 21); err != nil || n != 42 {
			t.Errorf("game1 CallRemote pyroot double: %d, %v", n, err)
		}
		r.WaitFor(t, "pyroot's callChild greet", func(l string) bool { return l == "callChild greet hello py from game1" })
		r.WaitFor(t, "pyroot's callChild 7", func(l string) bool { return l == "callChild 7 42" })
	}
	calls(pyroot)
	var n int
	if err := game1.CallRemote(ctx, "gate", "double", &n, 4); err != nil || n != 8 {
		t.Errorf("game1 CallRemote gate double: %d, %v", n, err)
	}
	if err := gate.Root().CallChild(ctx, "game1", "whoami", &s); err != nil || s != "game1 on the PB wire" {
		t.Errorf("gate CallChild game1: %q, %v", s, err)
	}
	if c := gate.Root().Child("game1"); c == nil || c.Conn() != nil {
		t.Errorf("gate's child game1: %v, want one on the PB wire (no *rpc.Conn)", c)
	}
	testutil.Eventually(t, "game1 ready", func() bool { return game1.Status().Ready })
	for _, ls := range game1.Status().Roots {
		if !ls.Joined || !strings.HasPrefix(ls.At, "127.0.0.1:") {
			t.Errorf("game1's link %+v, want joined", ls)
		}
	}

	// The Python root restarts: game1's node rejoins it by itself.
	pyroot.Kill()
	testutil.Eventually(t, "game1 sees pyroot gone", func() bool { return !game1.Status().Ready })
	pyroot = startRoot()
	calls(pyroot)
}

// Go servers only: gate's root speaks PB ("wire": "pb"), game1 (wire not
// given: firefly) joins it over PB where the master says, and calls go
// both ways; "firefly" is accepted as the default's name.
func TestPBRootGoNode(t *testing.T) {
	p := testutil.FreePorts(t, 2)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d},
		"servers": {
			"gate": {"rootport": %d, "wire": "pb"},
			"game1": {"remoteport": [{"rootname": "gate"}], "wire": "firefly"}
		}}`, p[0], p[1]))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.PB("gate") || cfg.PB("game1") || cfg.PB("nosuch") {
		t.Errorf("PB: gate %v, game1 %v, nosuch %v", cfg.PB("gate"), cfg.PB("game1"), cfg.PB("nosuch"))
	}
	ctx := testutil.Context(t)
	startMaster(t, cfg)
	gate, _ := startServer(t, cfg, "gate", func(ctx context.Context, s *Server) error {
		return s.Root().Service().Map("double", func(n int) int { return 2 * n })
	})
	game1, _ := startServer(t, cfg, "game1", func(ctx context.Context, s *Server) error {
		return s.NodeService("gate").MapID(3, func(s string) string { return s + "!" })
	})
	var n int
	if err := game1.CallRemote(ctx, "gate", "double", &n, 5); err != nil || n != 10 {
		t.Errorf("CallRemote: %d, %v", n, err)
	}
	var s string
	if err := gate.Root().CallChild(ctx, "game1", 3, &s, "hi"); err != nil || s != "hi!" {
		t.Errorf("CallChild: %q, %v", s, err)
	}
	if c := gate.Root().Child("game1"); c == nil || c.Conn() != nil {
		t.Errorf("gate's child game1: %v, want one on the PB wire (no *rpc.Conn)", c)
	}
	if l := game1.Node("gate").Link(); l == nil || game1.Node("gate").Conn() != nil {
		t.Errorf("game1's link %T, want a PB one", l)
	}
}
