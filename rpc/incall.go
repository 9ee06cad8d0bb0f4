package rpc

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/transport"
)

// incall is an incoming call with a running (or about to run) handler. It is
// also the handler's context: it carries the caller's deadline, is cancelled
// by the caller's cancel, the connection's end or the handler's return, and
// makes its Done channel
// only when the handler asks for it, so a call that never looks costs no
// channel and no timer. A call whose handler takes no context cannot be
// kept by it, and its incall is reused once the broker is done with it
// (see pooled, and ContextFree).
type incall struct {
	conn  *Conn
	reqID uint64
	obj   *target
	m     *registry.Method
	// The arguments, from the argument pool while the call is decoded and
	// runs (nil once its handler returned: the context may outlive them).
	*argFrame
	// charge is the call's answer-budget bytes (see budget.go), returned
	// when a one-way call's handler ends, or a two-way call's answer has
	// been handed to the transport.
	charge int
	// The worker running the call (nil when it runs on none, or is done)
	// and the goroutines waiting for calls made with it as their context;
	// both guarded by the answer table's lock (see workerPool).
	w     *worker
	waits int32
	// dlIndex is its place in the connection's deadline table (see
	// deadlines.go), guarded by the table's lock; inTable is set, under
	// mu, once it is armed there.
	dlIndex int32

	deadline    time.Time
	hasDeadline bool
	inTable     bool
	oneway      bool

	mu   sync.Mutex
	done chan struct{}
	err  error
	// The calls the handler waits on with this context: the first in
	// waiter, the others (made at once from goroutines of its own) in
	// waiters.
	waiter  waiter
	waiters []waiter
	afters  []*afterFunc // functions to run when the call is cancelled
	// ended is set when the handler returned: the call is not armed in the
	// deadline table after it. armed is set (under mu) before it is; a
	// handler that never asked for Done ends without taking mu.
	ended atomic.Bool
	armed atomic.Bool
	// over is set (under mu) once err is: Err reads it without taking mu.
	over atomic.Bool
	// self is the call as a context.Context, for ContextValue.
	self context.Context
	// lease is the transport's reader role while the call runs on the
	// reader (see RunInline): the handler's own calls on the connection
	// read their answers through it.
	lease transport.Lease
	// held is set, for a call run on the reader, when its handler held the
	// reader up (transport.Lease.Held), as judged before its answer is sent:
	// the peer's next call, which the answer may bring at once, is no input
	// the handler kept waiting.
	held bool
	// backedOff is set, for a call run on the reader, when its method has a
	// backoff (see workerPool.mayInline).
	backedOff bool
	// pooled is set for a call whose dispatcher never uses its context
	// (see contextFree): nothing but the broker can then keep the call,
	// and it goes back to incallPool once the broker is done with it (see
	// release).
	pooled bool
	// spare is a pooled call's argument frame, emptied, kept with it while
	// it is in incallPool: the two come out of the pool together.
	spare *argFrame
	// uses counts, in twos, the goroutines that took the call out of the
	// answer table's lock to cancel it; its lowest bit is set once the
	// call is done with and out of the table. Whoever lets go last of a
	// call done with gives it back.
	uses atomic.Int32
}

// incallPool holds the pooled calls (see incall.pooled) given back.
var incallPool = sync.Pool{New: func() any { return new(incall) }}

// hold keeps the call from going back to incallPool while the caller,
// which found it in the answer table under the table's lock, cancels it.
// The caller calls letGo once it is done.
func (ic *incall) hold() { ic.uses.Add(2) }

// letGo undoes hold.
func (ic *incall) letGo() {
	if ic.uses.Add(-2) == 1 {
		ic.recycle()
	}
}

// release tells the call that the broker is done with it: its handler
// returned, its answer went out and it left the answer table.
func (ic *incall) release() {
	if ic.uses.Add(1) == 1 {
		ic.recycle()
	}
}

// recycle gives a pooled call, done with and held by nobody, back to
// incallPool.
func (ic *incall) recycle() {
	if ic.pooled {
		*ic = incall{spare: ic.spare}
		incallPool.Put(ic)
	}
}

// ContextValue returns the call as a reflect.Value of type context.Context,
// which the registry passes to a handler taking a context without boxing it
// (see registry.Method.Call).
func (ic *incall) ContextValue() reflect.Value {
	return reflect.ValueOf(&ic.self).Elem()
}

// Deadline returns the caller's deadline, if it sent one.
func (ic *incall) Deadline() (time.Time, bool) { return ic.deadline, ic.hasDeadline }

// Done returns a channel closed when the call is cancelled or its deadline
// passes.
func (ic *incall) Done() <-chan struct{} {
	ic.mu.Lock()
	if ic.done == nil {
		ic.done = make(chan struct{})
		if ic.err != nil {
			close(ic.done)
		} else if ic.armLocked() {
			done := ic.done
			ic.endLocked(context.DeadlineExceeded) // unlocks
			return done
		}
	}
	done := ic.done
	ic.mu.Unlock()
	return done
}

// armLocked arms the call in the connection's deadline table, once, unless
// the handler returned; it reports true, arming nothing, when the deadline
// has passed already (the caller then ends the call). ic.mu must be held.
func (ic *incall) armLocked() (passed bool) {
	if !ic.hasDeadline || ic.inTable || ic.ended.Load() {
		return false
	}
	d := time.Until(ic.deadline)
	if d <= 0 {
		return true
	}
	ic.armed.Store(true)
	if !ic.ended.Load() {
		ic.inTable = true
		ic.conn.deadlines.arm(ic)
	}
	return false
}

// Err returns context.Canceled or context.DeadlineExceeded once the call is
// done, nil before.
func (ic *incall) Err() error {
	if !ic.over.Load() && (!ic.hasDeadline || time.Now().Before(ic.deadline)) {
		return nil
	}
	ic.mu.Lock()
	if ic.err == nil && ic.hasDeadline && !time.Now().Before(ic.deadline) {
		// Its timer may not have run yet: the call ends here, with all
		// that ending it tells.
		ic.endLocked(context.DeadlineExceeded) // unlocks
		return context.DeadlineExceeded
	}
	err := ic.err
	ic.mu.Unlock()
	return err
}

// Value returns the connection for ConnFromContext, and the call itself for
// the broker's own calls made with a context derived from it; nothing else.
func (ic *incall) Value(key any) any {
	switch key {
	case connKey{}:
		return ic.conn
	case incallKey{}:
		return ic
	}
	return nil
}

// cancel ends the call with err unless it has ended already.
func (ic *incall) cancel(err error) {
	ic.mu.Lock()
	if ic.err != nil {
		ic.mu.Unlock()
		return
	}
	ic.endLocked(err)
}

// endLocked ends the call with err: it closes Done, and, after unlocking
// ic.mu (which must be held, and the call not ended), gives up the calls the
// handler waits on and starts the functions registered by AfterFunc.
func (ic *incall) endLocked(err error) {
	ic.err = err
	ic.over.Store(true)
	if ic.done != nil {
		close(ic.done)
	}
	first, ws, as := ic.waiter, ic.waiters, ic.afters
	ic.waiter, ic.waiters, ic.afters = waiter{}, nil, nil
	ic.mu.Unlock()
	if first.q != nil {
		first.giveUp(err)
	}
	for _, w := range ws {
		w.giveUp(err)
	}
	for _, a := range as {
		go a.f()
	}
}

// returned ends the call's context once its handler returned, as net/http's
// request context ends, for whatever the handler handed its context to. A
// pooled call's context was handed to nothing (see contextFree): nobody can
// see it end, and it is left as it is, without taking its lock.
func (ic *incall) returned() {
	if !ic.pooled {
		ic.cancel(context.Canceled)
	}
}

// afterFunc is a function registered by AfterFunc.
type afterFunc struct{ f func() }

// AfterFunc arranges for f to run in its own goroutine once the call is
// cancelled or its deadline passes, and returns a function that stops that
// (reporting whether it did). context.AfterFunc and the contexts derived from
// a handler's context (context.WithCancel, WithTimeout...) use it, instead of
// a goroutine each that watches Done.
func (ic *incall) AfterFunc(f func()) (stop func() bool) {
	ic.Done() // arms the deadline
	ic.mu.Lock()
	if ic.err != nil {
		ic.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	ic.afters = append(ic.afters, a)
	ic.mu.Unlock()
	return func() bool {
		ic.mu.Lock()
		defer ic.mu.Unlock()
		i := slices.Index(ic.afters, a)
		if i < 0 {
			return false
		}
		ic.afters = slices.Delete(ic.afters, i, i+1)
		return true
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
// waiting caller is woken with err and the peer is told. It never waits: the
// incall may be cancelled by a lane's parser (the peer's cancel).
func (w waiter) giveUp(err error) {
	if ok, sent := w.conn.forget(w.id); ok {
		w.q.complete(err)
		if sent {
			w.conn.queueCancel(w.id, err)
		}
	}
}

// wait waits for the answer to question id on conn, or for the call to end
// (cancelled, or its deadline passed: the deadline is armed here),
// whichever comes first; the question's error tells which. No Done channel
// and no select are needed: ending the call gives up the calls it waits on.
func (ic *incall) wait(conn *Conn, id uint64, q *question) {
	w := waiter{conn: conn, id: id, q: q}
	ic.mu.Lock()
	if ic.err == nil && ic.armLocked() {
		ic.endLocked(context.DeadlineExceeded) // unlocks
		ic.mu.Lock()
	}
	if err := ic.err; err != nil {
		ic.mu.Unlock()
		w.giveUp(err)
		conn.awaitAnswer(q)
		return
	}
	if ic.waiter.q == nil {
		ic.waiter = w
	} else {
		ic.waiters = append(ic.waiters, w)
	}
	ic.mu.Unlock()
	if conn == ic.conn && ic.lease != (transport.Lease{}) {
		ic.lease.ReadUntil(q.done)
	} else {
		conn.awaitAnswer(q)
	}
	ic.mu.Lock()
	if ic.waiter.q == q {
		ic.waiter = waiter{}
		ic.mu.Unlock()
		return
	}
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

// disarm marks the call's handler returned and takes the call out of the
// deadline table, if it is there.
func (ic *incall) disarm() {
	ic.ended.Store(true)
	if !ic.armed.Load() {
		return // the deadline was never armed, and is not from now on
	}
	ic.mu.Lock()
	if ic.inTable {
		ic.conn.deadlines.disarm(ic)
	}
	ic.mu.Unlock()
}

// argFrame holds an incoming call's decoded arguments. It is the larger part
// of a call's state and is needed only until the handler returns (the
// handler receives copies of the values), so it is pooled, unlike an
// incall whose handler takes its context and may keep it. A pooled incall
// (see incall.pooled) keeps its emptied frame as its spare instead.
type argFrame struct {
	args   []reflect.Value
	argBuf [4]reflect.Value
	rest   []reflect.Value // a variadic method's extra arguments, while decoding
	// scratch holds small pointer-free arguments (built-in scalars, small
	// records and gob values), and strs and bufs string and []byte
	// arguments, so that decoding them needs no allocation of their own (see
	// inLane.argValue and incall.slot). used counts the words of scratch
	// taken, nstrs and nbufs the others.
	scratch      [scratchWords]uint64
	strs         [2]string
	bufs         [2][]byte
	used         int
	nstrs, nbufs int8
	refs         []*Ref // references received in the arguments
	refBuf       [2]*Ref
}

var argFramePool = sync.Pool{New: func() any { return new(argFrame) }}

// dropArgs lets go of the call's arguments once its handler has returned and
// its answer is sent, and gives their frame back to the pool (a pooled call
// keeps it as its spare). The incall itself may stay reachable for a while
// (a handler may keep its context), and it must not keep the received
// references and values with it: an unreleased *Ref must become
// unreachable when its handler returns, so that the garbage collector's
// backstop releases it at the next collection.
func (ic *incall) dropArgs() {
	if f := ic.argFrame; f != nil {
		ic.argFrame = nil
		*f = argFrame{}
		if ic.pooled {
			ic.spare = f
		} else {
			argFramePool.Put(f)
		}
	}
	ic.obj, ic.m = nil, nil
}

// releaseArgs releases the references received for a call that will not run.
func (ic *incall) releaseArgs() {
	for _, r := range ic.refs {
		r.Release()
	}
	ic.dropArgs()
}

type connKey struct{}

// incallKey is the context key under which a handler's context holds its
// incall.
type incallKey struct{}

// ConnFromContext returns the connection an incoming call arrived on, from a
// handler's context.
func ConnFromContext(ctx context.Context) (*Conn, bool) {
	c, ok := ctx.Value(connKey{}).(*Conn)
	return c, ok
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

// slot returns an addressable zero value of t, a wire.Builtin type, in ic's
// own space, or false when that space is taken. reflect.Call copies the
// value into the handler's frame.
func (ic *incall) slot(t reflect.Type) (reflect.Value, bool) {
	switch t.Kind() {
	case reflect.String:
		if int(ic.nstrs) < len(ic.strs) {
			ic.nstrs++
			return reflect.ValueOf(&ic.strs[ic.nstrs-1]).Elem(), true
		}
	case reflect.Slice:
		if int(ic.nbufs) < len(ic.bufs) {
			ic.nbufs++
			return reflect.ValueOf(&ic.bufs[ic.nbufs-1]).Elem(), true
		}
	default: // a bool or a number: eight bytes at most, no pointers
		if ic.used < scratchWords {
			ic.used++
			return reflect.NewAt(t, unsafe.Pointer(&ic.scratch[ic.used-1])).Elem(), true
		}
	}
	return reflect.Value{}, false
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

// serve runs a call's handler and answers it. The handler's slot is held
// until its answer is handed to the transport (the caller then frees it), so
// that Shutdown, waiting for idle, never cuts an answer.
func (c *Conn) serve(ic *incall) {
	res, err := ic.obj.Call(ic, ic.m, ic.args)
	ic.disarm()
	if ic.lease != (transport.Lease{}) {
		ic.held = ic.lease.Held()
	}
	c.answers.handlerDone(ic)
	if ic.oneway {
		c.lanes.budget.releaseBytes(ic.charge)
		if err != nil {
			c.logHandlerError(ic, err)
		}
		return
	}
	if err != nil {
		c.logHandlerError(ic, err)
		c.sendError(ic.reqID, err)
	} else {
		c.sendReply(ic.reqID, resultInfo{hasResult: ic.m.Result != nil}, res)
	}
	c.lanes.budget.releaseBytes(ic.charge)
	c.answers.answering.Add(-1)
}

func (c *Conn) logHandlerError(ic *incall, err error) {
	if IsExpected(err) {
		return
	}
	var pe *registry.PanicError
	if errors.As(err, &pe) {
		c.log.Error("rpc: handler panicked", "method", ic.m.Name, "panic", pe.Value, "stack", string(pe.Stack))
		return
	}
	c.log.Info("rpc: handler failed", "method", ic.m.Name, "err", err)
}
