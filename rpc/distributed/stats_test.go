package distributed_test

import (
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

func TestRootStats(t *testing.T) {
	root, addr := startRoot(t, "127.0.0.1:0")
	root.Service().Map("ping", func() string { return "pong" })
	if st := root.Stats(); st.Children != 0 || st.Conns != 0 || st.CallsIn != 0 {
		t.Fatalf("stats before any node: %+v", st)
	}
	a := connectNode(t, addr, "a")
	connectNode(t, addr, "b")
	ctx := testutil.Context(t)
	for range 3 {
		if err := a.CallRemote(ctx, "ping", nil); err != nil {
			t.Fatal(err)
		}
	}
	st := root.Stats()
	// Two takeProxy handshakes and three pings.
	if st.Children != 2 || st.Conns != 2 || st.ConnsTotal != 2 || st.CallsIn != 5 {
		t.Fatalf("stats with two nodes: %+v", st)
	}
	if st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("no traffic counted: %+v", st)
	}
	if !root.DropChild("b") {
		t.Fatal("DropChild(b) found no child")
	}
	if st := root.Stats(); st.Children != 1 {
		t.Fatalf("children after dropping b: %d", st.Children)
	}
}
