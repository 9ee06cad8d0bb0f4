package rpc

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fireflyrpc/firefly/registry"
)

// answerTable holds the incoming calls whose handlers are running, by the
// peer's request id, so a cancel from the peer or the connection's end can
// reach their contexts; and, under the same lock, the idle handler
// goroutines (see workers.go), so that starting a call and finishing one
// each take the lock once.
type answerTable struct {
	mu      sync.Mutex
	byID    map[uint64]*incall
	oneways map[*incall]struct{}
	running atomic.Int32
	closed  bool
	idle    chan struct{} // closed when running drops to zero while draining
	workers workerPool
}

func (t *answerTable) init() {
	t.byID = make(map[uint64]*incall)
	t.oneways = make(map[*incall]struct{})
}

// admit reserves a handler slot; false when max handlers are running.
func (t *answerTable) admit(max int) bool {
	if t.running.Add(1) > int32(max) {
		t.running.Add(-1)
		return false
	}
	return true
}

func (t *answerTable) newCall(c *Conn, reqID uint64, oneway bool, obj *target, m *registry.Method, nargs int, timeout time.Duration) *incall {
	ic := &incall{conn: c, reqID: reqID, oneway: oneway, obj: obj, m: m}
	ic.refs = ic.refBuf[:0]
	if timeout > 0 {
		ic.deadline = time.Now().Add(timeout)
		ic.hasDeadline = true
	}
	n := len(m.Params)
	if n <= len(ic.argBuf) {
		ic.args = ic.argBuf[:n]
	} else {
		ic.args = make([]reflect.Value, n)
	}
	if m.Variadic && nargs >= n {
		ic.rest = make([]reflect.Value, nargs-(n-1))
	}
	return ic
}

// record adds a running call (its slot already admitted) to the table;
// false when the connection has ended. t.mu must be held.
func (t *answerTable) record(ic *incall) bool {
	if t.closed {
		return false
	}
	if ic.oneway {
		t.oneways[ic] = struct{}{}
	} else {
		t.byID[ic.reqID] = ic
	}
	return true
}

// remove takes a call whose handler returned out of the table and frees its
// slot. t.mu must be held.
func (t *answerTable) remove(ic *incall) {
	if ic.oneway {
		delete(t.oneways, ic)
	} else if t.byID[ic.reqID] == ic {
		delete(t.byID, ic.reqID)
	}
	if t.running.Add(-1) == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// cancel cancels the handler of request id, if running, with why.
func (t *answerTable) cancel(id uint64, why error) {
	t.mu.Lock()
	ic := t.byID[id]
	t.mu.Unlock()
	if ic != nil {
		ic.cancel(why)
	}
}

// cancelAll cancels every running handler; used when the connection ends.
func (t *answerTable) cancelAll() {
	t.mu.Lock()
	t.closed = true
	var ics []*incall
	for _, ic := range t.byID {
		ics = append(ics, ic)
	}
	for ic := range t.oneways {
		ics = append(ics, ic)
	}
	t.mu.Unlock()
	for _, ic := range ics {
		ic.cancel(context.Canceled)
	}
}

// whenIdle returns a channel closed once no handler runs.
func (t *answerTable) whenIdle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running.Load() == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}
