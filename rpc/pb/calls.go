package pb

import (
	"fmt"
	"sync"

	"github.com/fireflyrpc/firefly/rpc"
)

// pendingCall is an outgoing call waiting for its answer. Exactly one party
// takes it out of the table and completes it: the reader that got the
// answer, or the connection's close. A caller that gives up only marks it
// forgotten; the late answer is then dropped (PB has no cancel).
type pendingCall struct {
	reply     any
	err       error
	done      chan struct{}
	forgotten bool
	pins      []int64 // exports held until the answer is read (see Conn.call)
}

// callTable numbers this side's requests (1, 2, 3 ... per connection, as
// Twisted does) and holds the ones waiting for an answer.
type callTable struct {
	mu   sync.Mutex
	next int64
	byID map[int64]*pendingCall
	max  int
	err  error // set when the connection is gone
}

func (t *callTable) init(max int) {
	t.byID = make(map[int64]*pendingCall)
	t.max = max
}

// add allocates the next request id, and registers p under it unless p is
// nil (a one-way call, answerRequired 0).
func (t *callTable) add(p *pendingCall) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return 0, t.err
	}
	if p != nil && len(t.byID) >= t.max {
		return 0, fmt.Errorf("%w (limit %d)", rpc.ErrTooManyCalls, t.max)
	}
	t.next++
	if p != nil {
		t.byID[t.next] = p
	}
	return t.next, nil
}

// take removes the call id for its answer. known is false for an id this
// side never issued or already answered: a peer error.
func (t *callTable) take(id int64) (p *pendingCall, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, known = t.byID[id]
	delete(t.byID, id)
	return p, known
}

// forget marks call id abandoned by its caller; false when its answer is
// already being delivered (the caller then waits for it).
func (t *callTable) forget(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byID[id]
	if p == nil {
		return false
	}
	p.forgotten = true
	return true
}

// drop removes call id, whose command could not be sent.
func (t *callTable) drop(id int64) {
	t.mu.Lock()
	delete(t.byID, id)
	t.mu.Unlock()
}

// closeAll fails every waiting call with err; later adds fail with it too.
func (t *callTable) closeAll(err error) {
	t.mu.Lock()
	calls := t.byID
	t.byID = nil
	t.err = err
	t.mu.Unlock()
	for _, p := range calls {
		if !p.forgotten {
			p.err = err
			close(p.done)
		}
	}
}

func (t *callTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}
