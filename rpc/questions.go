package rpc

import (
	"sync"
)

// Call is an asynchronous call in flight, as returned by Ref.Go. When it
// completes, Error is set and the Call is sent on Done.
type Call struct {
	Method string     // the method called
	Args   []any      // its arguments
	Reply  any        // where the result was decoded
	Error  error      // nil on success
	Done   chan *Call // receives the Call when it completes
}

// NewCall returns a Call of method, not yet completed, as Ref.Go starts one:
// its Done is done, or a new channel with room for one when done is nil. An
// unbuffered done panics, since completing the Call must not block. A layer
// whose asynchronous calls may complete before they reach a Ref (package
// distributed's Node.GoRemote) makes its Calls with it; to complete one, set
// Error and send the Call on Done.
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
	call  *Call         // async calls

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
	q.reply, q.err = nil, nil
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
		q.call.Done <- q.call
		return
	}
	q.done <- struct{}{}
}

// questionTable holds the outgoing calls waiting for answers, by request id.
// Questions sit in reusable slots (go-capnp's questions table): a request id
// is a slot's index in its low slotBits bits and a sequence number above
// them, so an answer that comes after its question was given up (its slot
// since reused) finds no match.
type questionTable struct {
	mu     sync.Mutex
	seq    uint64
	slots  []questionSlot
	free   []uint32 // indexes of empty slots
	max    int
	closed error // set when the connection is gone
}

type questionSlot struct {
	id uint64 // 0: empty
	q  *question
}

// slotBits is the width of the slot index in a request id.
const slotBits = 24

func (t *questionTable) init(max int) {
	t.max = min(max, 1<<slotBits)
}

// add registers q and returns its request id (never 0).
func (t *questionTable) add(q *question) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != nil {
		return 0, t.closed
	}
	if t.lenLocked() >= t.max {
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
	t.slots[i] = questionSlot{id: id, q: q}
	return id, nil
}

// take removes and returns the question with id, or nil if it is gone.
func (t *questionTable) take(id uint64) *question {
	i := id & (1<<slotBits - 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 || i >= uint64(len(t.slots)) || t.slots[i].id != id {
		return nil
	}
	q := t.slots[i].q
	t.slots[i] = questionSlot{}
	t.free = append(t.free, uint32(i))
	return q
}

// closeAll fails every waiting question with err and refuses new ones.
func (t *questionTable) closeAll(err error) {
	t.mu.Lock()
	var qs []*question
	for i := range t.slots {
		if t.slots[i].id != 0 {
			qs = append(qs, t.slots[i].q)
		}
	}
	t.slots, t.free = nil, nil
	t.closed = err
	t.mu.Unlock()
	for _, q := range qs {
		q.complete(err)
	}
}

func (t *questionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lenLocked()
}

// lenLocked is the number of questions in the table. t.mu must be held.
func (t *questionTable) lenLocked() int { return len(t.slots) - len(t.free) }
