package rpc

import (
	"context"
	"math/bits"
	"reflect"
	"slices"
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
	byID    callIndex
	oneways map[*incall]struct{}
	running atomic.Int32 // admitted calls whose handler or answer is not done
	// Admission (see admit): two-way handlers running, two-way calls not yet
	// answered to the transport, one-way handlers running.
	twoWay, answering, oneWay atomic.Int32
	closed                    bool
	// Lanes whose next call, one-way, waits for a one-way handler slot, in
	// order (see reserveOneWay).
	slotWaiters []*inLane
	idle        chan struct{} // closed when running drops to zero while draining
	workers     workerPool
}

func (t *answerTable) init(c *Conn) {
	t.oneways = make(map[*incall]struct{})
	t.workers.init(c)
}

// admit reserves a handler slot for a call; false when max handlers of its
// kind are running. A two-way handler's slot is freed when it returns, before
// its answer is written (see handlerDone): the caller, which announced limit
// it keeps to, may send its next call as soon as the answer arrives. So that
// a caller that ignores the limit cannot pile up answers stuck on its flow
// control, at most 2*max two-way calls are admitted and not yet answered.
// One-way calls have max slots of their own: their caller cannot know when
// they end.
func (t *answerTable) admit(oneway bool, max int) bool {
	m := int32(max)
	if oneway {
		// Its slot was reserved before it was parsed (see reserveOneWay).
	} else {
		if t.answering.Add(1) > 2*m {
			t.answering.Add(-1)
			return false
		}
		if t.twoWay.Add(1) > m {
			t.twoWay.Add(-1)
			t.answering.Add(-1)
			return false
		}
	}
	t.running.Add(1)
	return true
}

// handlerDone frees the handler slot of ic, whose handler returned.
func (t *answerTable) handlerDone(ic *incall) {
	if ic.oneway {
		t.releaseOneWay()
	} else {
		t.twoWay.Add(-1)
	}
}

// reserveOneWay reserves a one-way handler slot for the one-way call at the
// head of in, which its owner is about to parse; when max one-way handlers
// run, in is queued instead (false), to be handed a slot as one returns and
// notified. Until then the lane is not read: the peer's further one-way
// calls wait in its flow control rather than being dropped. Lanes are served
// in turn.
func (t *answerTable) reserveOneWay(in *inLane, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in.slotWaiting {
		return false
	}
	if len(t.slotWaiters) == 0 && t.oneWay.Load() < int32(max) {
		t.oneWay.Add(1)
		in.slot.Store(true)
		return true
	}
	in.slotWaiting = true
	t.slotWaiters = append(t.slotWaiters, in)
	return false
}

// releaseOneWay frees a one-way handler slot: it passes to the first lane
// waiting for one, if any, which is notified to parse its call.
func (t *answerTable) releaseOneWay() {
	t.mu.Lock()
	if len(t.slotWaiters) == 0 {
		t.oneWay.Add(-1)
		t.mu.Unlock()
		return
	}
	in := t.slotWaiters[0]
	t.slotWaiters[0] = nil
	t.slotWaiters = t.slotWaiters[1:]
	in.slotWaiting = false
	in.slot.Store(true)
	t.mu.Unlock()
	in.notify(false)
}

// forgetOneWay drops in, ended, from the lanes waiting for a one-way slot,
// and frees the slot it held.
func (t *answerTable) forgetOneWay(in *inLane) {
	t.mu.Lock()
	if in.slotWaiting {
		in.slotWaiting = false
		t.slotWaiters = slices.DeleteFunc(t.slotWaiters, func(w *inLane) bool { return w == in })
	}
	t.mu.Unlock()
	if in.slot.Swap(false) {
		t.releaseOneWay()
	}
}

func (t *answerTable) newCall(c *Conn, reqID uint64, oneway bool, obj *target, m *registry.Method, nargs int, timeout time.Duration) *incall {
	// A call whose handler may keep its context is never given back, so
	// it is not looked for in the pool either.
	var ic *incall
	pooled := contextFree(obj, m)
	if pooled {
		ic = incallPool.Get().(*incall)
	} else {
		ic = new(incall)
	}
	ic.pooled = pooled
	ic.conn, ic.reqID, ic.oneway, ic.obj, ic.m = c, reqID, oneway, obj, m
	if f := ic.spare; f != nil {
		ic.argFrame, ic.spare = f, nil
	} else {
		ic.argFrame = argFramePool.Get().(*argFrame)
	}
	ic.refs = ic.refBuf[:0]
	ic.self = ic
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
		t.byID.add(ic)
	}
	return true
}

// remove takes a call whose handler returned out of the table and frees its
// slot. t.mu must be held.
func (t *answerTable) remove(ic *incall) {
	if ic.oneway {
		delete(t.oneways, ic)
	} else {
		t.byID.remove(ic)
	}
	if t.running.Add(-1) == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// cancel cancels the handler of request id, if running, with why (each of
// them, if the peer runs two calls under one id).
func (t *answerTable) cancel(id uint64, why error) {
	var buf [1]*incall
	t.mu.Lock()
	ics := t.byID.find(buf[:0], id)
	for _, ic := range ics {
		ic.hold()
	}
	t.mu.Unlock()
	for _, ic := range ics {
		ic.cancel(why)
		ic.letGo()
	}
}

// cancelAll cancels every running handler; used when the connection ends.
func (t *answerTable) cancelAll() {
	t.mu.Lock()
	t.closed = true
	var ics []*incall
	for _, ic := range t.byID.slots {
		if ic != nil {
			ics = append(ics, ic)
		}
	}
	for ic := range t.oneways {
		ics = append(ics, ic)
	}
	for _, ic := range ics {
		ic.hold()
	}
	t.mu.Unlock()
	for _, ic := range ics {
		ic.cancel(context.Canceled)
		ic.letGo()
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

// callIndex holds the running two-way calls by the peer's request id, for the
// peer's cancels: an open-addressing hash table with linear probing and
// deletion by backward shift, so that adding and removing a call hash once
// and touch a slot or two. A request id the peer uses for two calls at once
// is held twice.
type callIndex struct {
	slots []*incall // a power of two long, at most half full; nil when empty
	n     int
	shift uint // 64 - log2(len(slots))
}

// minCallIndex is the first size of a callIndex's slots.
const minCallIndex = 16

func (x *callIndex) home(id uint64) int {
	return int((id * 0x9e3779b97f4a7c15) >> x.shift) // Fibonacci hashing
}

// add adds ic, under its request id.
func (x *callIndex) add(ic *incall) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	mask := len(x.slots) - 1
	i := x.home(ic.reqID)
	for x.slots[i] != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = ic
	x.n++
}

func (x *callIndex) grow() {
	old := x.slots
	size := max(minCallIndex, 2*len(old))
	x.slots = make([]*incall, size)
	x.shift = uint(64 - bits.TrailingZeros(uint(size)))
	x.n = 0
	for _, ic := range old {
		if ic != nil {
			x.add(ic)
		}
	}
}

// remove removes ic, if held.
func (x *callIndex) remove(ic *incall) {
	if x.n == 0 {
		return
	}
	mask := len(x.slots) - 1
	i := x.home(ic.reqID)
	for x.slots[i] != ic {
		if x.slots[i] == nil {
			return
		}
		i = (i + 1) & mask
	}
	x.n--
	// Shift back the calls after i that would no longer be found across
	// the hole: those whose home is not cyclically in (i, j].
	for j := i; ; {
		x.slots[i] = nil
		for {
			j = (j + 1) & mask
			if x.slots[j] == nil {
				return
			}
			h := x.home(x.slots[j].reqID)
			if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
				break
			}
		}
		x.slots[i] = x.slots[j]
		i = j
	}
}

// find appends the calls held under id to dst.
func (x *callIndex) find(dst []*incall, id uint64) []*incall {
	if x.n == 0 {
		return dst
	}
	mask := len(x.slots) - 1
	for i := x.home(id); x.slots[i] != nil; i = (i + 1) & mask {
		if x.slots[i].reqID == id {
			dst = append(dst, x.slots[i])
		}
	}
	return dst
}
