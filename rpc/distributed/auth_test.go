package distributed_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// TestRootNodeSharedSecret runs Firefly's layer with the pass-through
// options: the root requires the secret, the node presents it, and the
// root's service targets see the node's identity.
func TestRootNodeSharedSecret(t *testing.T) {
	keys := rpc.KeyringOf(map[string][]byte{"game-1": []byte("cluster secret")})
	root, err := distributed.NewRoot(distributed.WithServerOptions(rpc.WithKeyring(keys)))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	err = root.Service().Map("whoami", func(ctx context.Context) string {
		p, _ := rpc.PeerFromContext(ctx)
		return p.Identity
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go root.Serve(ln)
	ctx := testutil.Context(t)

	intruder := distributed.NewNode("intruder", distributed.WithDialOptions(rpc.WithSharedSecret("game-1", []byte("guessed"))))
	defer intruder.Close()
	if err := intruder.Connect(ctx, ln.Addr().String()); !errors.Is(err, rpc.ErrAuthFailed) {
		t.Fatalf("a node with the wrong secret: %v, want ErrAuthFailed", err)
	}
	n := distributed.NewNode("game-1", distributed.WithDialOptions(rpc.WithSharedSecret("game-1", []byte("cluster secret"))))
	defer n.Close()
	if err := n.Connect(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	var who string
	if err := n.CallRemote(ctx, "whoami", &who); err != nil || who != "game-1" {
		t.Fatalf("whoami = %q, %v", who, err)
	}
	if c := root.Child("game-1"); c == nil || c.Conn().Peer().Identity != "game-1" {
		t.Fatalf("the root's child: %v", c)
	}
}
