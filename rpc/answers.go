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

// setArg stores argument i (past the fixed parameters of a variadic method:
// an element of the variadic slice).
func (ic *incall) setArg(i int, v reflect.Value) {
	if fixed := len(ic.m.Params) - 1; ic.m.Variadic && i >= fixed {
		ic.rest[i-fixed] = v
		return
	}
	ic.args[i] = v
}

// finishVariadic builds the variadic slice from the n arguments received.
func (ic *incall) finishVariadic(n int) {
	fixed := len(ic.m.Params) - 1
	st := ic.m.Params[fixed]
	s := reflect.MakeSlice(st, n-fixed, n-fixed)
	for j := range n - fixed {
		s.Index(j).Set(ic.rest[j])
	}
	ic.args[fixed] = s
	ic.rest = nil
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

// incall is an incoming call with a running (or about to run) handler. It is
// also the handler's context: it carries the caller's deadline, is cancelled
// by the caller's cancel or the connection's end, and makes its Done channel
// only when the handler asks for it, so a call that never looks costs no
// channel and no timer.
type incall struct {
	conn   *Conn
	reqID  uint64
	oneway bool
	obj    *target
	m      *registry.Method
	args   []reflect.Value
	argBuf [4]reflect.Value
	rest   []reflect.Value // a variadic method's extra arguments, while decoding
	// scratch holds one small pointer-free gob argument, so that decoding it
	// needs no allocation of its own (see inLane.argValue).
	scratch     [scratchWords]uint64
	scratchUsed bool
	refs        []*Ref // references received in the arguments
	refBuf      [2]*Ref

	deadline    time.Time
	hasDeadline bool

	mu      sync.Mutex
	done    chan struct{}
	err     error
	timer   *time.Timer
	waiters []waiter // calls the handler waits on with this context
	waitBuf [1]waiter
	// ended is set when the handler returned: no timer is armed after it.
	// armed is set (under mu) before a timer is; a handler that never
	// asked for Done ends without taking mu.
	ended atomic.Bool
	armed atomic.Bool
}

// Deadline returns the caller's deadline, if it sent one.
func (ic *incall) Deadline() (time.Time, bool) { return ic.deadline, ic.hasDeadline }

// Done returns a channel closed when the call is cancelled or its deadline
// passes.
func (ic *incall) Done() <-chan struct{} {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.done == nil {
		ic.done = make(chan struct{})
		if ic.err != nil {
			close(ic.done)
		} else if ic.hasDeadline && !ic.ended.Load() {
			d := time.Until(ic.deadline)
			if d <= 0 {
				ic.err = context.DeadlineExceeded
				close(ic.done)
			} else {
				ic.armed.Store(true)
				if !ic.ended.Load() {
					ic.timer = time.AfterFunc(d, func() { ic.cancel(context.DeadlineExceeded) })
				}
			}
		}
	}
	return ic.done
}

// Err returns context.Canceled or context.DeadlineExceeded once the call is
// done, nil before.
func (ic *incall) Err() error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.err == nil && ic.hasDeadline && !time.Now().Before(ic.deadline) {
		ic.err = context.DeadlineExceeded
		if ic.done != nil {
			close(ic.done)
		}
	}
	return ic.err
}

// Value returns the connection for ConnFromContext; nothing else.
func (ic *incall) Value(key any) any {
	if key == (connKey{}) {
		return ic.conn
	}
	return nil
}

func (ic *incall) cancel(err error) {
	ic.mu.Lock()
	if ic.err != nil {
		ic.mu.Unlock()
		return
	}
	ic.err = err
	if ic.done != nil {
		close(ic.done)
	}
	ws := ic.waiters
	ic.waiters = nil
	ic.mu.Unlock()
	for _, w := range ws {
		w.giveUp(err)
	}
}

// waiter is an outgoing call that a handler waits on with its own incall as
// the context (a call made from within a handler). Instead of a Done channel
// and a select, the incall's cancel gives the call up itself.
type waiter struct {
	conn *Conn
	id   uint64
	q    *question
}

// giveUp gives up the call, if its answer has not been taken already: the
// peer is told and the waiting caller is woken with err.
func (w waiter) giveUp(err error) {
	if w.conn.forget(w.id) {
		w.conn.queueCancel(w.id, err)
		w.q.complete(err)
	}
}

// wait waits for the answer to question id on conn, or for the call to be
// cancelled, whichever comes first; the question's error tells which. It
// serves incalls without a deadline, whose cancel is the only way they end.
func (ic *incall) wait(conn *Conn, id uint64, q *question) {
	w := waiter{conn: conn, id: id, q: q}
	ic.mu.Lock()
	if err := ic.err; err != nil {
		ic.mu.Unlock()
		w.giveUp(err)
		<-q.done
		return
	}
	if ic.waiters == nil {
		ic.waiters = ic.waitBuf[:0]
	}
	ic.waiters = append(ic.waiters, w)
	ic.mu.Unlock()
	<-q.done
	ic.mu.Lock()
	for i := range ic.waiters {
		if ic.waiters[i].q == q {
			last := len(ic.waiters) - 1
			ic.waiters[i] = ic.waiters[last]
			ic.waiters[last] = waiter{}
			ic.waiters = ic.waiters[:last]
			break
		}
	}
	ic.mu.Unlock()
}

func (ic *incall) stopTimer() {
	ic.ended.Store(true)
	if !ic.armed.Load() {
		return // Done never armed a timer, and none is armed from now on
	}
	ic.mu.Lock()
	if ic.timer != nil {
		ic.timer.Stop()
	}
	ic.mu.Unlock()
}

// releaseArgs releases the references received for a call that will not run.
func (ic *incall) releaseArgs() {
	for _, r := range ic.refs {
		r.Release()
	}
	ic.refs = nil
}

type connKey struct{}

// ConnFromContext returns the connection an incoming call arrived on, from a
// handler's context.
func ConnFromContext(ctx context.Context) (*Conn, bool) {
	c, ok := ctx.Value(connKey{}).(*Conn)
	return c, ok
}

// serve runs a call's handler and answers it. The handler's slot is held
// until its answer is handed to the transport (the caller then frees it), so
// that Shutdown, waiting for idle, never cuts an answer.
func (c *Conn) serve(ic *incall) {
	res, err := ic.obj.Call(ic, ic.m, ic.args)
	ic.stopTimer()
	if err != nil {
		c.logHandlerError(ic, err)
		if !ic.oneway {
			c.sendError(ic.reqID, err)
		}
		return
	}
	if !ic.oneway {
		c.sendReply(ic.reqID, resultInfo{hasResult: ic.m.Result != nil}, res)
	}
}

func (c *Conn) logHandlerError(ic *incall, err error) {
	if IsExpected(err) {
		return
	}
	var pe *registry.PanicError
	if asPanic(err, &pe) {
		c.log.Error("rpc: handler panicked", "method", ic.m.Name, "panic", pe.Value, "stack", string(pe.Stack))
		return
	}
	c.log.Info("rpc: handler failed", "method", ic.m.Name, "err", err)
}
