package rpc

import (
	"context"
	"reflect"
)

// Watched contexts. A caller waiting for its answer with a context that can
// end selects on the context's Done channel beside its answer's. Thousands
// of callers sharing one context (a server's, a burst's) would all queue on
// that one channel, each select taking its lock twice; and a caller making
// its calls one after another with one context (a request's, with its
// deadline) would wait in that select for each answer, which the session's
// reader then brings it, where a caller whose context never ends reads its
// answer itself (Session.ReadUntil). So when a call is added with the
// context of the call added just before (still waiting, or returned), the
// question table watches the context itself, once (context.AfterFunc), for
// this call and each one added with it later; their callers wait for their
// answers alone, as a caller whose context never ends does. When the context
// ends, the watch gives up each of its calls as its caller would have: the
// peer is told of each one that may be on the wire, and each is completed
// with the context's error (which interrupts a caller reading for its
// answer). A watch whose calls have all returned is kept, idle, for the
// calls its context may still make (a context shared by two callers in turn
// would otherwise be watched afresh at every overlap), until the context
// ends, the connection does, or its place is wanted for another context.
//
// The last call's context is remembered by its address only, not kept
// alive by the table: a context made later at the same address is watched
// from its first call instead of its second, which costs a watch and
// changes nothing else.

// maxWatches bounds the contexts a connection watches at once; calls with
// other contexts select on them as before.
const maxWatches = 4

// ctxWatch is one watched context. n, the calls it watches, is guarded by
// the question table's lock; a watch with none is idle.
type ctxWatch struct {
	ctx  context.Context
	t    *questionTable
	n    int // the calls watched
	stop func() bool
}

// ctxWatches are a question table's watched contexts, guarded by its lock.
type ctxWatches struct {
	list []*ctxWatch
	// The address of the context of the last call added unwatched (0: none,
	// or not a pointer).
	last uintptr
}

// watch returns the watch of ctx for a call just added to t: the one
// watching ctx already, or a new one when the call added before it, unwatched,
// had the same context; nil when ctx is not watched for it.
func (ws *ctxWatches) watch(t *questionTable, ctx context.Context) *ctxWatch {
	for _, w := range ws.list {
		if w.ctx == ctx {
			w.n++
			return w
		}
	}
	// Only contexts of pointer types are remembered and watched: an
	// interface holding an uncomparable value would panic in the
	// comparison above.
	var at uintptr
	if v := reflect.ValueOf(ctx); v.Kind() == reflect.Pointer {
		at = v.Pointer()
	}
	if at == 0 || at != ws.last || !ws.room() {
		ws.last = at
		return nil
	}
	ws.last = 0
	w := &ctxWatch{ctx: ctx, t: t, n: 1}
	ws.list = append(ws.list, w)
	w.stop = context.AfterFunc(ctx, w.fire)
	return w
}

// room reports whether the list has room for one more watch, making it by
// ending an idle watch when it is full. Stopping a context's AfterFunc
// takes only the context's own lock, so it is done under t.mu.
func (ws *ctxWatches) room() bool {
	if len(ws.list) < maxWatches {
		return true
	}
	for _, w := range ws.list {
		if w.n == 0 {
			ws.remove(w)
			w.stop()
			return true
		}
	}
	return false
}

// remove takes w out of the list, if it is there.
func (ws *ctxWatches) remove(w *ctxWatch) {
	for i, x := range ws.list {
		if x == w {
			last := len(ws.list) - 1
			ws.list[i] = ws.list[last]
			ws.list[last] = nil
			ws.list = ws.list[:last]
			return
		}
	}
}

// clear drops every watch and returns them, for the caller to stop.
func (ws *ctxWatches) clear() []*ctxWatch {
	list := ws.list
	*ws = ctxWatches{}
	return list
}

// fire runs when w's context ends: it gives up each call w watches.
func (w *ctxWatch) fire() {
	t := w.t
	err := w.ctx.Err()
	type given struct {
		q    *question
		id   uint64
		sent bool
	}
	var gs []given
	t.mu.Lock()
	t.ctxs.remove(w)
	for i := range t.slots {
		if t.slots[i].w == w {
			id := t.slots[i].id
			q, sent := t.abandonLocked(uint64(i))
			gs = append(gs, given{q, id, sent})
		}
	}
	t.mu.Unlock()
	for _, g := range gs {
		if g.sent {
			t.conn.queueCancel(g.id, err)
		}
		g.q.complete(err)
	}
}
