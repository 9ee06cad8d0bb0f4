package rpc_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// getDebug fetches h's page and decodes it.
func getDebug(t *testing.T, h http.Handler) rpc.DebugPage {
	t.Helper()
	var p rpc.DebugPage
	testutil.GetJSON(t, h, &p)
	return p
}

func TestServerDebugHandler(t *testing.T) {
	srv, conn := pair(t, newCalc(), []rpc.Option{rpc.WithIntrospection(true)})
	serverConn(t, srv)
	ctx := testutil.Context(t)
	for range 2 {
		if err := conn.Root().Call(ctx, "add", nil, Args{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	p := getDebug(t, srv.DebugHandler())
	if p.Stats.CallsIn != 2 || p.Stats.Conns != 1 {
		t.Fatalf("stats %+v", p.Stats)
	}
	if len(p.Conns) != 1 {
		t.Fatalf("conns %+v", p.Conns)
	}
	c := p.Conns[0]
	if c.Remote != conn.LocalAddr().String() || c.Local != conn.RemoteAddr().String() || c.BytesIn == 0 || c.BytesOut == 0 {
		t.Fatalf("conn %+v, client at %s dialled %s", c, conn.LocalAddr(), conn.RemoteAddr())
	}
	var add *rpc.MethodInfo
	for i, m := range p.Methods {
		if m.Name == "Add" {
			add = &p.Methods[i]
		}
	}
	if add == nil || add.Signature != "Add(rpc_test.Args) int" {
		t.Fatalf("methods %+v: no Add(rpc_test.Args) int", p.Methods)
	}
}

func TestServerDebugHandlerWithoutIntrospection(t *testing.T) {
	srv, _ := pair(t, newCalc(), nil)
	serverConn(t, srv)
	p := getDebug(t, srv.DebugHandler())
	if p.Methods != nil || len(p.Conns) != 1 {
		t.Fatalf("page %+v", p)
	}
}

func TestDebugHandlerMethods(t *testing.T) {
	srv, err := rpc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := srv.DebugHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	// No connections is an empty list, not null; root-only fields are left out.
	if conns, ok := raw["Conns"].([]any); !ok || len(conns) != 0 {
		t.Fatalf("Conns %v in %s", raw["Conns"], rec.Body)
	}
	for _, k := range []string{"Methods", "Service", "ChildList", "Children"} {
		if _, ok := raw[k]; ok {
			t.Errorf("%s present in %s", k, rec.Body)
		}
	}
}
