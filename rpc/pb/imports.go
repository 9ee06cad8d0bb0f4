package pb

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/fireflyrpc/firefly/rpc"
)

// remoteRef is the rpc.Remote behind a *rpc.Ref to one of the peer's
// objects: its root ('root', never counted) or an object it sent as
// ['remote', luid].
type remoteRef struct {
	c        *Conn
	id       int64
	root     bool
	entry    *importEntry
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
	r.c.dropImport(r.id, r.entry, r)
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
type importTable struct {
	mu   sync.Mutex
	byID map[int64]*importEntry
}

type importEntry struct {
	ref   weak.Pointer[rpc.Ref]
	count int64
}

type importCleanup struct {
	c     *Conn
	id    int64
	entry *importEntry
}

func (t *importTable) init() { t.byID = make(map[int64]*importEntry) }

// importRef records one received transmission of the peer's object luid and
// returns its *rpc.Ref: the same one while it is alive and unreleased.
func (c *Conn) importRef(id int64) *rpc.Ref {
	t := &c.imports
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil { // connection gone: a dead reference
		r := &remoteRef{c: c, id: id}
		r.released.Store(true)
		return rpc.NewRemoteRef(r)
	}
	var carried int64
	if e := t.byID[id]; e != nil {
		if ref := e.ref.Value(); ref != nil {
			e.count++
			return ref
		}
		carried = e.count // collected; its cleanup will find the entry replaced
	}
	e := &importEntry{count: carried + 1}
	rr := &remoteRef{c: c, id: id, entry: e}
	ref := rpc.NewRemoteRef(rr)
	e.ref = weak.Make(ref)
	t.byID[id] = e
	runtime.AddCleanup(ref, func(a importCleanup) { a.c.dropImport(a.id, a.entry, nil) }, importCleanup{c, id, e})
	return ref
}

// dropImport removes entry (if still current) and sends one decref per
// transmission it counted. With r non-nil it also marks r released.
func (c *Conn) dropImport(id int64, entry *importEntry, r *remoteRef) {
	t := &c.imports
	t.mu.Lock()
	if r != nil && !r.released.CompareAndSwap(false, true) {
		t.mu.Unlock()
		return
	}
	var n int64
	if t.byID != nil && t.byID[id] == entry {
		delete(t.byID, id)
		n = entry.count
	}
	t.mu.Unlock()
	for range n {
		if c.send(context.Background(), []any{[]byte("decref"), id}, false) != nil {
			return
		}
	}
}

func (t *importTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func (t *importTable) clear() {
	t.mu.Lock()
	t.byID = nil
	t.mu.Unlock()
}
