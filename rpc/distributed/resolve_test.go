package distributed_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestNodeResolver: a node with a resolver looks its address up before
// every attempt, tries each address in order, and finds a root that moved
// to another address when the connection is lost.
func TestNodeResolver(t *testing.T) {
	ctx := testutil.Context(t)
	first, firstAddr := startRoot(t, "127.0.0.1:0")
	second, secondAddr := startRoot(t, "127.0.0.1:0")
	for _, r := range []*distributed.Root{first, second} {
		r.Service().Map("where", func() string { return "here" })
	}
	// A port nothing listens on, listed before the live one.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	var mu sync.Mutex
	var asked []string
	answer := []string{deadAddr, firstAddr}
	resolve := func(ctx context.Context, addr string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, addr)
		if answer == nil {
			return nil, errors.New("NXDOMAIN")
		}
		return answer, nil
	}
	n := connectNode(t, "gate.example", "n", distributed.WithResolver(resolve))
	if got := n.Conn().RemoteAddr().String(); got != firstAddr {
		t.Fatalf("connected to %s, want %s (the first address that answers)", got, firstAddr)
	}
	var s string
	if err := n.CallRemote(ctx, "where", &s); err != nil || s != "here" {
		t.Fatalf("call = %q, %v", s, err)
	}

	// The root moves: the name resolves to nothing for a while, then to
	// the second root.
	mu.Lock()
	answer = nil
	before := len(asked)
	mu.Unlock()
	first.Close()
	testutil.Eventually(t, "a failed lookup", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(asked) > before+1
	})
	if n.Connected() {
		t.Fatal("connected while the name resolves to nothing")
	}
	mu.Lock()
	answer = []string{secondAddr}
	mu.Unlock()
	testutil.Eventually(t, "reconnected to the second root", func() bool {
		c := n.Conn()
		return c != nil && c.RemoteAddr().String() == secondAddr
	})
	mu.Lock()
	for _, a := range asked {
		if a != "gate.example" {
			t.Errorf("resolver asked for %q, want the node's address gate.example", a)
		}
	}
	mu.Unlock()
	if err := n.CallRemote(ctx, "where", &s); err != nil || s != "here" {
		t.Fatalf("call after the move = %q, %v", s, err)
	}
}
