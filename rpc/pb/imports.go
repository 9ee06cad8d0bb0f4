package pb

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/fireflyrpc/firefly/internal/broker"
	"github.com/fireflyrpc/firefly/rpc"
)

// remoteRef is the rpc.Remote behind a *rpc.Ref to one of the peer's
// objects: its root ('root', never counted) or an object it sent as
// ['remote', luid].
type remoteRef struct {
	c        *Conn
	id       int64
	root     bool
	entry    *broker.Import[rpc.Ref]
	released atomic.Bool
}

func (r *remoteRef) Call(ctx context.Context, method string, reply any, args []any) error {
	return r.c.call(ctx, r, method, reply, args, true)
}

func (r *remoteRef) Send(ctx context.Context, method string, args []any) error {
	return r.c.call(ctx, r, method, nil, args, false)
}

// Release sends the owner one decref for every transmission received.
func (r *remoteRef) Release() {
	if r.root {
		return
	}
	r.c.imports.Drop(r.id, r.entry, &r.released)
}

func (r *remoteRef) NotifyOnDisconnect(f func(error)) func() { return r.c.NotifyOnDisconnect(f) }

func (r *remoteRef) String() string {
	if r.root {
		return "pb.Ref(root)"
	}
	return fmt.Sprintf("pb.Ref(%d)", r.id)
}

// objectID is the id a message to r carries.
func (r *remoteRef) objectID() any {
	if r.root {
		return []byte("root")
	}
	return r.id
}

// importTable holds the references the peer has sent, counting the
// transmissions received so that releasing sends that many decrefs (Twisted
// makes a RemoteReference per transmission, each sending its own decref).
// The *rpc.Ref is held weakly: an unreachable one is collected and its
// cleanup releases the count, as a backstop for Release.
type importTable = broker.Imports[int64, rpc.Ref]

// importRef records one received transmission of the peer's object luid and
// returns its *rpc.Ref: the same one while it is alive and unreleased.
func (c *Conn) importRef(id int64) *rpc.Ref {
	return c.imports.Ref(id, func(e *broker.Import[rpc.Ref]) *rpc.Ref {
		r := &remoteRef{c: c, id: id, entry: e}
		if e == nil { // connection gone: a dead reference
			r.released.Store(true)
		}
		return rpc.NewRemoteRef(r)
	})
}

// decref sends one decref per transmission of the peer's object id released.
func (c *Conn) decref(id int64, n uint64) {
	for range n {
		if c.send(context.Background(), []any{[]byte("decref"), id}, false) != nil {
			return
		}
	}
}
