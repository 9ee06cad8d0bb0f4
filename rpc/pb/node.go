package pb

import (
	"context"
	"fmt"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// NodeDialer returns a distributed.Dialer that joins a distributed.Node to
// a Firefly root over PB: a Python Firefly root (PBRoot) unchanged, or a Go
// root served with FireflyRoot. Each attempt dials addr with opts, calls
// the root object's takeProxy(name, proxy) as Firefly's RemoteObject does,
// and hands back the connection and the root's callTarget:
//
//	node := distributed.NewNode("game1", distributed.WithDialer(pb.NodeDialer()))
//	err := node.Join(ctx, "gate:10000")
//	err = node.CallRemote(ctx, "login", &reply, user, pb.Kwargs{"token": t})
//
// The node's CallRemote and SendRemote go to the root as
// callTarget(command, *args, **kw) (a numeric command as an int), and the
// root's callChild(command, *args, **kw) runs the node's Service targets,
// its arguments converted into the targets' parameter types. The node
// keeps its distributed supervision: it rejoins with backoff, running its
// hooks, when the root goes away. A Go root's refusal of the name
// (FireflyRoot) matches distributed.ErrNameTaken or ErrIdentityMismatch,
// as on the firefly wire. takeProxy carries no incarnation
// (Firefly's takes two arguments), so a root sees each rejoin as a new
// node that replaces the old child of the name.
func NodeDialer(opts ...Option) distributed.Dialer {
	return func(ctx context.Context, n *distributed.Node, addr string) (distributed.Link, *rpc.Ref, error) {
		c, err := Dial(ctx, "tcp", addr, opts...)
		if err != nil {
			return nil, nil, err
		}
		proxy := &fireflyProxy{svc: n.Service()}
		if err := c.Root().Call(ctx, "takeProxy", nil, n.Name(), proxy); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("pb: takeProxy: %w", nameRefusal(err))
		}
		return c, rpc.NewRemoteRef(&commandRemote{ref: c.Root(), via: "callTarget", conn: c}), nil
	}
}
