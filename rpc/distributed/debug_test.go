package distributed_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// getRootDebug fetches h's page and decodes it.
func getRootDebug(t *testing.T, h http.Handler) distributed.DebugPage {
	t.Helper()
	var p distributed.DebugPage
	testutil.GetJSON(t, h, &p)
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
