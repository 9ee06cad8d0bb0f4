package rpc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// each calls f for each entry queued in q, oldest first.
func (q *creditQueue) each(f func(creditEntry)) {
	i := q.next
	for b := q.head; b != nil; b = b.link {
		for ; i < b.n; i++ {
			f(b.e[i])
		}
		i = 0
	}
}

// TestCreditQueueOrder runs random pushes and pops, in runs long enough to
// cross several blocks and to empty the queue, against a slice: the queue
// gives back what was pushed, in order, and counts it.
func TestCreditQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q creditQueue
	var model []*heldCall
	calls := make([]heldCall, 5000)
	next := 0
	for round := range 200 {
		pushes, pops := rng.IntN(3*creditBlockLen), rng.IntN(3*creditBlockLen)
		if round%10 == 9 {
			pops = len(model) + pushes // drain it
		}
		for range pushes {
			h := &calls[next%len(calls)]
			next++
			q.push(creditEntry{h: h})
			model = append(model, h)
		}
		for range min(pops, len(model)) {
			if e := q.pop(); e.h != model[0] {
				t.Fatalf("round %d: popped %p, want %p", round, e.h, model[0])
			}
			model = model[1:]
		}
		if q.len() != len(model) {
			t.Fatalf("round %d: len %d, want %d", round, q.len(), len(model))
		}
		var seen []*heldCall
		q.each(func(e creditEntry) { seen = append(seen, e.h) })
		for i := range model {
			if i >= len(seen) || seen[i] != model[i] {
				t.Fatalf("round %d: entry %d of %d differs (%d seen)", round, i, len(model), len(seen))
			}
		}
	}
	var cleared int
	q.clear(func(creditEntry) { cleared++ })
	if cleared != len(model) || q.len() != 0 || q.head != nil || q.tail != nil {
		t.Fatalf("clear: %d of %d entries, len %d, blocks left: %v", cleared, len(model), q.len(), q.head != nil)
	}
	q.push(creditEntry{h: &calls[0]})
	if e := q.pop(); e.h != &calls[0] || q.len() != 0 {
		t.Fatal("a cleared queue is not reusable")
	}
}

// TestCreditQueueBurstAllocs fills a queue with 10,000 entries and drains
// it, twice over: the second burst takes its blocks back from the pool
// instead of allocating, where a slice resliced from its front grows a new
// array of the whole queue's size at each burst.
func TestCreditQueueBurstAllocs(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector drops pooled blocks at random")
	}
	var q creditQueue
	h := new(heldCall)
	burst := func() {
		for range 10000 {
			q.push(creditEntry{h: h})
		}
		for range 10000 {
			q.pop()
		}
	}
	burst()
	if got := testing.AllocsPerRun(20, burst); got > 2 {
		t.Errorf("a burst of 10,000 entries: %v allocations", got)
	}
}

// TestHeldCallsQueueAllocs holds 3,000 calls past the peer's limit and
// passes them credits, in rounds: after the first round, a round allocates
// nothing. Before the queue was made of blocks it was a slice resliced from
// its front, which grew a new array, in steps, at every round.
func TestHeldCallsQueueAllocs(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector drops pooled values at random")
	}
	c := new(Conn)
	c.credits.limit, c.credits.used = 4, 4
	ctx := context.Background()
	args := []any{1, 2}
	const calls = 3000
	var failed error
	round := func() {
		for i := range calls {
			if held, _, err := c.hold(ctx, nil, "add", args, uint64(i+1)); !held || err != nil {
				failed = fmt.Errorf("call %d: held %v, %v", i, held, err)
				return
			}
		}
		for range calls {
			c.passCredit()
		}
		cr := &c.credits
		if len(cr.sending) != calls || cr.waiting.len() != 0 {
			failed = fmt.Errorf("%d calls passed credits, %d still queued, want %d and 0", len(cr.sending), cr.waiting.len(), calls)
			return
		}
		for _, h := range cr.sending {
			putHeld(h)
		}
		cr.sending, cr.carrying = cr.sending[:0], false
	}
	round()
	allocs := testing.AllocsPerRun(10, round)
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs > 0 {
		t.Errorf("a round of %d held calls: %v allocations", calls, allocs)
	}
}
