package rpc

import (
	"context"
	"sync"
	"time"
)

// deadlineTable ends the connection's incoming calls whose deadline passes
// while their handlers wait on them (see incall.armLocked). It holds them in
// a heap by deadline under one runtime timer, set for the earliest: arming a
// call takes no timer of its own, and since calls mostly come with the same
// timeout, a call armed later than the earliest moves no timer at all. The
// timer may fire early (for a call that ended meanwhile); it then finds
// nothing due and is set again for the earliest left.
type deadlineTable struct {
	mu     sync.Mutex
	heap   []*incall // a min-heap by deadline; each knows its index (dlIndex)
	timer  *time.Timer
	at     time.Time // when the timer fires; zero when it is not set
	closed bool
}

// arm adds ic, whose deadline is ahead, to the table.
func (t *deadlineTable) arm(ic *incall) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	ic.dlIndex = int32(len(t.heap))
	t.heap = append(t.heap, ic)
	t.up(len(t.heap) - 1)
	if t.at.IsZero() || ic.deadline.Before(t.at) {
		t.setLocked(ic.deadline)
	}
}

// disarm takes ic out of the table, if it is there.
func (t *deadlineTable) disarm(ic *incall) {
	t.mu.Lock()
	if i := int(ic.dlIndex); i >= 0 && i < len(t.heap) && t.heap[i] == ic {
		t.removeLocked(i)
	}
	t.mu.Unlock()
}

// setLocked sets the timer for at.
func (t *deadlineTable) setLocked(at time.Time) {
	t.at = at
	d := time.Until(at)
	if t.timer == nil {
		t.timer = time.AfterFunc(d, t.fire)
	} else {
		t.timer.Reset(d)
	}
}

// fire ends the calls that are due and sets the timer for the next.
func (t *deadlineTable) fire() {
	var due []*incall
	t.mu.Lock()
	t.at = time.Time{}
	now := time.Now()
	for len(t.heap) > 0 && !t.heap[0].deadline.After(now) {
		due = append(due, t.heap[0])
		t.removeLocked(0)
	}
	if len(t.heap) > 0 && !t.closed {
		t.setLocked(t.heap[0].deadline)
	}
	t.mu.Unlock()
	for _, ic := range due {
		ic.cancel(context.DeadlineExceeded)
	}
}

// close empties the table and stops its timer, when the connection ends (its
// calls are cancelled then).
func (t *deadlineTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, ic := range t.heap {
		ic.dlIndex = -1
	}
	t.heap = nil
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *deadlineTable) removeLocked(i int) {
	h := t.heap
	last := len(h) - 1
	h[i].dlIndex = -1
	if i != last {
		h[i] = h[last]
		h[i].dlIndex = int32(i)
	}
	h[last] = nil
	t.heap = h[:last]
	if i != last {
		t.down(i)
		t.up(i)
	}
}

func (t *deadlineTable) up(i int) {
	h := t.heap
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].deadline.Before(h[p].deadline) {
			break
		}
		h[i], h[p] = h[p], h[i]
		h[i].dlIndex, h[p].dlIndex = int32(i), int32(p)
		i = p
	}
}

func (t *deadlineTable) down(i int) {
	h := t.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].deadline.Before(h[l].deadline) {
			m = r
		}
		if !h[m].deadline.Before(h[i].deadline) {
			return
		}
		h[i], h[m] = h[m], h[i]
		h[i].dlIndex, h[m].dlIndex = int32(i), int32(m)
		i = m
	}
}
