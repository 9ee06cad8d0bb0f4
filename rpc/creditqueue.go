package rpc

import "sync"

// creditBlockLen is the number of entries in one block of a creditQueue.
const creditBlockLen = 64

// creditQueue is the first-come, first-served queue of the calls waiting
// for a credit (callCredits.waiting). Its entries sit in blocks of
// creditBlockLen, linked from the oldest to the newest: pushing takes a
// block when the newest is full, and popping gives the oldest back once it
// has been read through. So a queue of 10,000 held calls, filling and
// draining in a burst, moves no entry and allocates no array of the whole
// queue's size; the blocks go back to a pool that all connections share.
// An empty queue keeps one block, for the next call that waits. The zero
// creditQueue is empty and ready to use; it is guarded by callCredits.mu.
type creditQueue struct {
	head *creditBlock // the oldest block; nil when no block is held
	tail *creditBlock // the newest block
	next int          // the index of the oldest entry in head
	n    int          // the entries queued
}

// creditBlock is a block of a creditQueue: entries e[:n] were pushed, and
// those before the queue's next index (in the oldest block) were popped.
type creditBlock struct {
	e    [creditBlockLen]creditEntry
	n    int
	link *creditBlock // the next newer block
}

var creditBlocks = sync.Pool{New: func() any { return new(creditBlock) }}

// len returns the number of entries queued.
func (q *creditQueue) len() int { return q.n }

// push adds e at the end of the queue.
func (q *creditQueue) push(e creditEntry) {
	b := q.tail
	if b == nil || b.n == creditBlockLen {
		nb := creditBlocks.Get().(*creditBlock)
		if b == nil {
			q.head = nb
		} else {
			b.link = nb
		}
		q.tail, b = nb, nb
	}
	b.e[b.n] = e
	b.n++
	q.n++
}

// pop takes the oldest entry out of the queue, which must not be empty.
func (q *creditQueue) pop() creditEntry {
	b := q.head
	e := b.e[q.next]
	b.e[q.next] = creditEntry{}
	q.next++
	q.n--
	switch {
	case q.n == 0:
		// Keep the one block, emptied, for the next push (it is the
		// tail: a newer block would hold an entry).
		b.n, q.next = 0, 0
	case q.next == creditBlockLen:
		q.head, q.next = b.link, 0
		b.n, b.link = 0, nil
		creditBlocks.Put(b)
	}
	return e
}

// clear empties the queue and gives its blocks back, calling f for each
// entry that was queued, oldest first.
func (q *creditQueue) clear(f func(creditEntry)) {
	for q.n > 0 {
		f(q.pop())
	}
	if b := q.head; b != nil {
		q.head, q.tail = nil, nil
		creditBlocks.Put(b)
	}
}
