package rpc

import (
	"sync"
	"sync/atomic"
)

// DefaultAnswerBudget is the default of WithAnswerBudget.
const DefaultAnswerBudget = 64 << 20

// answerBudget bounds the bytes of the peer's calls that this side has
// taken from its lanes and not yet finished: a call is charged its message
// length when its lane is about to parse it, and the charge travels with the
// call (its incall, or the control message refusing it) until the REPLY or
// ERROR answering it has been handed to the transport (two-way calls), or
// until its handler returned or it was dropped (one-way calls). A lane whose next call does not fit stops reading (its unread
// data holds the peer back through flow control) until answers free enough;
// lanes wait in turn, first come first served. Calls are only ever charged
// on a lane's owner, which never blocks: it waits by letting the lane go.
type answerBudget struct {
	limit int64
	used  atomic.Int64
	// queued is len(waiting), read without mu: a charge that finds no lane
	// waiting and room in the budget takes it with no lock, and a release
	// that finds none waiting returns its bytes with no lock either. A
	// lane queued first (with none ahead of it) counts itself before it
	// looks at the budget once more, so a release that looked before the
	// count left it the room it freed. (A charge made as a lane is being
	// queued may pass that lane.)
	queued  atomic.Int32
	mu      sync.Mutex
	waiting []*inLane // lanes whose next call did not fit, in order; guarded by mu
}

func (b *answerBudget) init(limit int) {
	b.limit = int64(limit)
}

// take adds n bytes to the budget's use, unless they do not fit.
func (b *answerBudget) take(n int) bool {
	for {
		u := b.used.Load()
		if u+int64(n) > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			return true
		}
	}
}

// charge reserves n bytes for the call at the head of in, or queues in to be
// granted them later (false).
func (b *answerBudget) charge(in *inLane, oneWay bool, n int) bool {
	if b.queued.Load() == 0 {
		// No lane waits, in included: nobody else reads its fields.
		if in.waitN, in.waitOneWay = n, oneWay; b.take(n) {
			in.charged.Store(true)
			return true
		}
	}
	b.mu.Lock()
	if in.waiting {
		b.mu.Unlock()
		return false
	}
	in.waitN, in.waitOneWay = n, oneWay
	in.waiting = true
	b.waiting = append(b.waiting, in)
	b.queued.Add(1)
	if len(b.waiting) == 1 && b.take(n) {
		// None ahead of in, and room: freed since the look above, or by a
		// release that looked before in was counted.
		b.waiting[0] = nil
		b.waiting = b.waiting[:0]
		b.queued.Add(-1)
		in.waiting = false
		in.charged.Store(true)
		b.mu.Unlock()
		return true
	}
	b.mu.Unlock()
	return false
}

// releaseBytes returns the n bytes charged for a call (none when n is 0) and
// grants waiting lanes what now fits.
func (b *answerBudget) releaseBytes(n int) {
	if n == 0 {
		return
	}
	b.used.Add(-int64(n))
	if b.queued.Load() == 0 {
		return
	}
	b.mu.Lock()
	b.grantLocked()
}

// grantLocked grants waiting lanes what now fits, and unlocks b.
func (b *answerBudget) grantLocked() {
	var granted []*inLane
	for len(b.waiting) > 0 {
		in := b.waiting[0]
		if !b.take(in.waitN) {
			break
		}
		in.waiting = false
		in.charged.Store(true)
		b.waiting[0] = nil
		b.waiting = b.waiting[1:]
		b.queued.Add(-1)
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
				b.queued.Add(-1)
				break
			}
		}
		in.waiting = false
		return false
	}
	return in.charged.Load()
}

// callHeader reports whether data, the start of a message after its
// length, is a CALL, and whether it is one-way; more reports that too few
// bytes are at hand to tell.
func callHeader(data []byte) (call, oneWay, more bool) {
	if len(data) < 2 {
		return false, false, true
	}
	if data[0] != msgCall {
		return false, false, false
	}
	return true, data[1]&flagOneWay != 0, false
}
