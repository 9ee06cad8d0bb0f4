package rpc_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// The variables are expvar.Vars.
var (
	_ expvar.Var = rpc.ExpvarFunc(nil)
	_ expvar.Var = (*rpc.Server)(nil).Expvar()
)

var expvarSeq atomic.Int64

// publish publishes v under a name no other test (or -count run) uses and
// returns the name.
func publish(t *testing.T, v expvar.Var) string {
	name := fmt.Sprintf("firefly-%s-%d", t.Name(), expvarSeq.Add(1))
	expvar.Publish(name, v)
	return name
}

// readVar decodes the published variable name into v.
func readVar(t *testing.T, name string, v any) {
	t.Helper()
	ev := expvar.Get(name)
	if ev == nil {
		t.Fatalf("%s not published", name)
	}
	if err := json.Unmarshal([]byte(ev.String()), v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, ev.String())
	}
}

func TestServerExpvar(t *testing.T) {
	srv, conn := pair(t, newCalc(), nil)
	serverConn(t, srv)
	name := publish(t, srv.Expvar())
	var before rpc.Stats
	readVar(t, name, &before)
	if before.Conns != 1 || before.CallsIn != 0 {
		t.Fatalf("before any call: %+v", before)
	}

	ctx := testutil.Context(t)
	for range 4 {
		if err := conn.Root().Call(ctx, "add", nil, Args{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Root().Call(ctx, "nope", nil)
	var after rpc.Stats
	readVar(t, name, &after)
	if after.CallsIn != 5 || after.Errors["no_such_method"] != 1 || after.ConnsTotal != 1 {
		t.Fatalf("after five calls: %+v", after)
	}
	if after.BytesIn <= before.BytesIn || after.BytesOut <= before.BytesOut {
		t.Fatalf("bytes did not move: before %+v, after %+v", before, after)
	}
	// The keys are the fields of Stats.
	var raw map[string]any
	readVar(t, name, &raw)
	for _, k := range []string{"Conns", "ConnsTotal", "CallsIn", "CallsOut", "Errors", "BytesIn", "BytesOut", "Exports", "Handlers"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("key %s missing from %v", k, raw)
		}
	}

	var client rpc.Stats
	readVar(t, publish(t, conn.Expvar()), &client)
	if client.CallsOut != 5 {
		t.Fatalf("client totals: %+v", client)
	}
}

func TestExpvarFuncEncodingError(t *testing.T) {
	s := rpc.ExpvarFunc(func() any { return math.Inf(1) }).String()
	var msg string
	if err := json.Unmarshal([]byte(s), &msg); err != nil || !strings.HasPrefix(msg, "rpc: ") {
		t.Fatalf("String() = %s (%v), want a JSON string with the error", s, err)
	}
}
