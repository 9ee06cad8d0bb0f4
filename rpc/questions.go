package rpc

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/fireflyrpc/firefly/transport"
)

// Call is an asynchronous call in flight, as returned by Ref.Go. When it
// completes, Error is set and the Call is sent on Done.
type Call struct {
	Method string     // the method called
	Args   []any      // its arguments
	Reply  any        // where the result was decoded
	Error  error      // nil on success
	Done   chan *Call // receives the Call when it completes

	log *slog.Logger
}

// finish sends the completed call on Done without ever waiting, as net/rpc
// does: a Done channel with no room left is the caller's error (it must have
// room for every call that completes on it), and the completion is dropped
// and logged rather than stall the connection's reader, its close, or other
// calls.
func (c *Call) finish() {
	select {
	case c.Done <- c:
	default:
		if c.log != nil {
			c.log.Warn("rpc: done channel is full; completion dropped", "method", c.Method, "err", c.Error)
		}
	}
}

// Complete sets the call's Error to err (nil: success) and sends the call
// on Done without waiting, as Ref.Go's calls complete: when Done has no room
// left, the completion is dropped (and logged for calls a Ref made).
func (c *Call) Complete(err error) {
	c.Error = err
	c.finish()
}

// NewCall returns a Call of method, not yet completed, as Ref.Go starts one:
// its Done is done, or a new channel with room for one when done is nil. An
// unbuffered done panics, since completing the Call must not block. A layer
// whose asynchronous calls may complete before they reach a Ref (package
// distributed's Node.GoRemote) makes its Calls with it and completes them
// with Complete.
func NewCall(method string, reply any, done chan *Call, args ...any) *Call {
	if done == nil {
		done = make(chan *Call, 1)
	} else if cap(done) == 0 {
		panic("rpc: done channel is unbuffered")
	}
	return &Call{Method: method, Args: args, Reply: reply, Done: done}
}

// question is an outgoing call waiting for its answer (go-capnp's name).
// Exactly one party takes it out of the table: the parser of the lane that
// got the answer, the caller giving up, or the connection's close. That
// party completes it.
type question struct {
	reply any
	err   error
	done  chan struct{} // sync calls: signalled once
	// sess is the session whose ReadUntil the caller of a sync call may
	// wait in: whoever signals done wakes it (transport.Session.Wake).
	sess *transport.Session
	call *Call // async calls
	// carry, set by the answer's parser, tells the caller, woken by the
	// answer, to send the held calls that credits passed to (see
	// Conn.carry): this call's answer freed one of them.
	carry bool
	// watched is set when the question table watches the caller's context
	// for it (watches.go): the caller then waits for done alone.
	watched bool

	mu        sync.Mutex  // async calls: guards stop and completed
	stop      func() bool // async calls: stops the ctx watcher
	completed bool
}

// watch sets the ctx watcher of an async question, stopping it at once if
// the question completed already.
func (q *question) watch(stop func() bool) {
	q.mu.Lock()
	if q.completed {
		q.mu.Unlock()
		stop()
		return
	}
	q.stop = stop
	q.mu.Unlock()
}

var questionPool = sync.Pool{New: func() any { return &question{done: make(chan struct{}, 1)} }}

func getQuestion(reply any) *question {
	q := questionPool.Get().(*question)
	q.reply = reply
	return q
}

func putQuestion(q *question) {
	q.reply, q.err, q.carry, q.watched, q.sess = nil, nil, false, false, nil
	questionPool.Put(q)
}

// complete delivers the outcome of a question taken out of the table.
func (q *question) complete(err error) {
	q.err = err
	if q.call != nil {
		q.mu.Lock()
		q.completed = true
		stop := q.stop
		q.mu.Unlock()
		if stop != nil {
			stop()
		}
		q.call.Error = err
		q.call.finish()
		return
	}
	sess := q.sess // q is the caller's again once done is signalled
	q.done <- struct{}{}
	if sess != nil {
		sess.Wake()
	}
}

// awaitAnswer waits for the answer to sync question q. The connection's only
// call in flight, while no call of the peer's is, reads its answer itself
// when nobody else reads the input (transport.Session.ReadUntil): a call
// made after another then passes through no other goroutine. With other
// calls in flight, the session's reader brings each its answer, and their
// callers' goroutines keep the stacks they started with; and while the
// peer's calls run, its next ones are not left for the session to pick up
// once the reader role, given up after the answer, has lingered.
func (c *Conn) awaitAnswer(q *question) {
	if c.questions.len() <= 1 && c.answers.running.Load() == 0 {
		c.sess.ReadUntil(q.done)
		return
	}
	c.sess.WantInput()
	<-q.done
}

// questionTable holds the outgoing calls waiting for answers, by request id.
// Questions sit in reusable slots (go-capnp's questions table): a request id
// is a slot's index in its low slotBits bits and a sequence number above
// them. A call the caller gave up on keeps its slot, empty of its question,
// until the peer's answer arrives, because the peer's handler holds the
// call's credit until then; the answer is then dropped.
type questionTable struct {
	mu     sync.Mutex
	seq    uint64
	slots  []questionSlot
	free   []uint32 // indexes of empty slots
	owed   int      // slots of given-up calls whose answer is still owed
	max    int
	count  atomic.Int32 // questions in the table (lenLocked), for len without the lock
	closed error        // set when the connection is gone
	conn   *Conn        // gets back a call's credit when its answer arrives
	ctxs   ctxWatches   // callers' contexts watched for several calls at once
}

type questionSlot struct {
	id uint64    // 0: empty
	q  *question // nil: given up, the answer still owed
	w  *ctxWatch // the watch of the caller's context, if it shares one (watches.go)
	// credited is set once the call holds one of the peer's call credits
	// (see callCredits): from then on it may be on the wire.
	credited bool
}

// slotBits is the width of the slot index in a request id.
const slotBits = 24

func (t *questionTable) init(max int, c *Conn) {
	t.max = min(max, 1<<slotBits)
	t.conn = c
}

// add registers q and returns its request id (never 0); credited tells
// whether the call holds a credit already (else credit marks it later).
// ctx, when not nil, is the context its caller waits with: q.watched is set
// when the table watches ctx for it (see watches.go), and the caller then
// waits for q alone.
func (t *questionTable) add(q *question, credited bool, ctx context.Context) (uint64, error) {
	t.mu.Lock()
	if err := t.closed; err != nil {
		t.mu.Unlock()
		return 0, err
	}
	if t.lenLocked() >= t.max {
		t.mu.Unlock()
		return 0, ErrTooManyCalls
	}
	var i uint32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		i = uint32(len(t.slots))
		t.slots = append(t.slots, questionSlot{})
	}
	t.seq++
	id := t.seq<<slotBits | uint64(i)
	t.slots[i] = questionSlot{id: id, q: q, credited: credited}
	if ctx != nil {
		t.slots[i].w = t.ctxs.watch(t, ctx)
		q.watched = t.slots[i].w != nil
	}
	t.count.Add(1)
	t.mu.Unlock()
	return id, nil
}

// slotLocked returns the index of the slot of request id, and whether the
// table holds that request. t.mu must be held.
func (t *questionTable) slotLocked(id uint64) (uint64, bool) {
	i := id & (1<<slotBits - 1)
	return i, id != 0 && i < uint64(len(t.slots)) && t.slots[i].id == id
}

// freeLocked empties slot i and makes it reusable. t.mu must be held.
func (t *questionTable) freeLocked(i uint64) {
	if w := t.slots[i].w; w != nil {
		w.n--
	}
	t.slots[i] = questionSlot{}
	t.free = append(t.free, uint32(i))
	t.count.Add(-1)
}

// take is called when the answer to request id arrives: it frees the slot,
// gives the call's credit back and returns the question, or nil when the
// caller gave up on it or no such call was sent.
func (t *questionTable) take(id uint64) *question {
	t.mu.Lock()
	i, ok := t.slotLocked(id)
	if !ok {
		t.mu.Unlock()
		return nil
	}
	q := t.slots[i].q
	if !t.slots[i].credited {
		t.mu.Unlock()
		return nil // an answer to a call not sent yet: a peer's error
	}
	if q == nil {
		t.owed--
	}
	t.freeLocked(i)
	t.mu.Unlock()
	if t.conn.passCredit() {
		if q != nil && q.call == nil {
			q.carry = true // its caller, about to be woken, sends them
		} else {
			go t.conn.carry()
		}
	}
	return q
}

// creditHeld marks each call of batch, held until now, as holding a credit,
// about to be sent; it sets given on those no longer there (given up, or
// the connection is gone), and returns how many those are.
func (t *questionTable) creditHeld(batch []*heldCall) (given int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, hc := range batch {
		i, ok := t.slotLocked(hc.id)
		if !ok || t.slots[i].q == nil {
			hc.given = true
			given++
			continue
		}
		t.slots[i].credited = true
	}
	return given
}

// credit marks the call of request id, held until now, as holding a
// credit, about to be sent; false when it is no longer there (given up, or
// the connection is gone).
func (t *questionTable) credit(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slotLocked(id)
	if !ok || t.slots[i].q == nil {
		return false
	}
	t.slots[i].credited = true
	return true
}

// abandon takes the question of request id, still waiting, from its slot
// for a caller that gives up on it; nil if it is answered or the connection
// is gone. sent tells whether the call may be on the wire: its slot then
// stays until the answer arrives; a call held and not sent yet (see
// held.go) leaves at once, and is never sent.
func (t *questionTable) abandon(id uint64) (q *question, sent bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slotLocked(id)
	if !ok {
		return nil, false
	}
	return t.abandonLocked(i)
}

// abandonLocked gives up the question in slot i: as abandon, with t.mu held.
func (t *questionTable) abandonLocked(i uint64) (q *question, sent bool) {
	q = t.slots[i].q
	switch {
	case q == nil:
	case !t.slots[i].credited:
		t.freeLocked(i)
	default:
		if w := t.slots[i].w; w != nil {
			w.n--
		}
		t.slots[i].q, t.slots[i].w = nil, nil
		t.owed++
		sent = true
	}
	return q, sent
}

// drop frees the slot of request id, a held call whose sending failed, and
// returns its question: nil when its caller gave up on it (or the
// connection is gone and completed it).
func (t *questionTable) drop(id uint64) *question {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slotLocked(id)
	if !ok {
		return nil
	}
	q := t.slots[i].q
	if q == nil {
		t.owed--
	}
	t.freeLocked(i)
	return q
}

// remove frees the slot of request id, whose call was not sent, and returns
// its question; nil if it is gone: the connection ended and completed it,
// or the watch of its caller's context gave it up and completed it. A slot
// so given up that holds a credit is freed here, and given tells so: the
// caller then gives the credit back.
func (t *questionTable) remove(id uint64) (q *question, given bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slotLocked(id)
	if !ok {
		return nil, false
	}
	if q = t.slots[i].q; q == nil {
		t.owed--
		given = true
	}
	t.freeLocked(i)
	return q, given
}

// closeAll fails every waiting question with err and refuses new ones.
func (t *questionTable) closeAll(err error) {
	t.mu.Lock()
	var qs []*question
	for i := range t.slots {
		if t.slots[i].id != 0 && t.slots[i].q != nil {
			qs = append(qs, t.slots[i].q)
		}
	}
	t.slots, t.free, t.owed = nil, nil, 0
	t.count.Store(0)
	t.closed = err
	ws := t.ctxs.clear()
	t.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	t.conn.closeCredits(err)
	for _, q := range qs {
		q.complete(err)
	}
}

// waiting returns the number of calls whose callers wait for an answer.
func (t *questionTable) waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lenLocked() - t.owed
}

// len is the number of questions in the table, given-up ones whose answer
// is still owed included; it takes no lock.
func (t *questionTable) len() int { return int(t.count.Load()) }

// lenLocked is the number of questions in the table, given-up ones whose
// answer is still owed included. t.mu must be held.
func (t *questionTable) lenLocked() int { return len(t.slots) - len(t.free) }
