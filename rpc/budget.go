package rpc

import (
	"encoding/binary"
	"sync"
)

// DefaultAnswerBudget is the default of WithAnswerBudget.
const DefaultAnswerBudget = 64 << 20

// answerBudget bounds the bytes of the peer's calls that this side has
// taken from its lanes and not yet finished: a call is charged its message
// length when its lane is about to parse it, and the charge is returned once
// the REPLY or ERROR for its request id has been handed to the transport
// (two-way calls), or once its handler returned or it was dropped (one-way
// calls). A lane whose next call does not fit stops reading (its unread
// data holds the peer back through flow control) until answers free enough;
// lanes wait in turn, first come first served. Calls are only ever charged
// on a lane's owner, which never blocks: it waits by letting the lane go.
type answerBudget struct {
	mu      sync.Mutex
	limit   int
	used    int
	byID    map[uint64]int   // charge by request id
	dup     map[uint64][]int // further charges of a request id used twice at once
	waiting []*inLane        // lanes whose next call did not fit, in order
}

func (b *answerBudget) init(limit int) {
	b.limit = limit
	b.byID = make(map[uint64]int)
}

// charge reserves n bytes for the call reqID at the head of in, or queues in
// to be granted them later (false).
func (b *answerBudget) charge(in *inLane, reqID uint64, oneWay bool, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if in.waiting {
		return false
	}
	in.waitReq, in.waitN, in.waitOneWay = reqID, n, oneWay
	if len(b.waiting) > 0 || b.used+n > b.limit {
		in.waiting = true
		b.waiting = append(b.waiting, in)
		return false
	}
	b.recordLocked(reqID, oneWay, n)
	in.charged.Store(true)
	return true
}

func (b *answerBudget) recordLocked(reqID uint64, oneWay bool, n int) {
	b.used += n
	if oneWay {
		return // the handler returns the bytes itself
	}
	if _, ok := b.byID[reqID]; !ok {
		b.byID[reqID] = n
		return
	}
	if b.dup == nil {
		b.dup = make(map[uint64][]int)
	}
	b.dup[reqID] = append(b.dup[reqID], n)
}

// release returns the charge of one call reqID (answered, or never to be
// parsed) and grants waiting lanes what now fits.
func (b *answerBudget) release(reqID uint64) {
	b.mu.Lock()
	n, ok := b.byID[reqID]
	if !ok {
		b.mu.Unlock()
		return
	}
	if d := b.dup[reqID]; len(d) > 0 {
		b.byID[reqID] = d[0]
		if len(d) == 1 {
			delete(b.dup, reqID)
		} else {
			b.dup[reqID] = d[1:]
		}
	} else {
		delete(b.byID, reqID)
	}
	b.used -= n
	b.grantLocked()
}

// releaseBytes returns n bytes charged for a one-way call.
func (b *answerBudget) releaseBytes(n int) {
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
}

// grantLocked grants waiting lanes what now fits, and unlocks b.
func (b *answerBudget) grantLocked() {
	var granted []*inLane
	for len(b.waiting) > 0 {
		in := b.waiting[0]
		if b.used+in.waitN > b.limit {
			break
		}
		b.recordLocked(in.waitReq, in.waitOneWay, in.waitN)
		in.waiting = false
		in.charged.Store(true)
		b.waiting[0] = nil
		b.waiting = b.waiting[1:]
		granted = append(granted, in)
	}
	b.mu.Unlock()
	for _, in := range granted {
		in.notify(false) // the call it was granted is parsed now
	}
}

// forget drops in from the waiting lanes (it ended); it reports whether in
// had been granted its charge meanwhile.
func (b *answerBudget) forget(in *inLane) (granted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if in.waiting {
		for i, w := range b.waiting {
			if w == in {
				b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
				break
			}
		}
		in.waiting = false
		return false
	}
	return in.charged.Load()
}

// callHeader reports whether data, the start of a message after its
// length, is a CALL, and returns its request id and whether it is one-way;
// more reports that too few bytes are at hand to tell.
func callHeader(data []byte) (reqID uint64, call, oneWay, more bool) {
	if len(data) < 2 {
		return 0, false, false, true
	}
	if data[0] != msgCall {
		return 0, false, false, false
	}
	id, k := binary.Uvarint(data[2:])
	if k == 0 {
		return 0, false, false, true
	}
	if k < 0 {
		return 0, false, false, false // malformed: the parser says why
	}
	return id, true, data[1]&flagOneWay != 0, false
}

// answered returns the charge of the call an answer on l (a REPLY or an
// ERROR, just handed to the transport) was for.
func (c *Conn) answered(l *outLane) {
	if len(l.buf) <= lengthSize+1 || (l.buf[lengthSize] != msgReply && l.buf[lengthSize] != msgError) {
		return
	}
	if id, k := binary.Uvarint(l.buf[lengthSize+1:]); k > 0 {
		c.lanes.budget.release(id)
	}
}
