package rpc

import (
	"errors"
	"testing"
)

// An answer for a question given up finds nothing, even once the question's
// slot holds another question.
func TestQuestionTableStaleIDs(t *testing.T) {
	var tab questionTable
	tab.init(2, &Conn{}) // a peer that announced no call limit
	q1, q2, q3 := &question{}, &question{}, &question{}
	id1, err := tab.add(q1, true)
	if err != nil || id1 == 0 {
		t.Fatalf("add = %d, %v", id1, err)
	}
	if got := tab.take(id1); got != q1 {
		t.Fatalf("take(id1) = %p, want q1", got)
	}
	id2, _ := tab.add(q2, true) // reuses q1's slot
	if id2 == id1 {
		t.Fatalf("a reused slot got the same id %d", id2)
	}
	if got := tab.take(id1); got != nil {
		t.Fatal("a stale id took the question now in its slot")
	}
	if _, err := tab.add(q3, true); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.add(&question{}, true); !errors.Is(err, ErrTooManyCalls) {
		t.Fatalf("third add over a limit of 2 = %v, want ErrTooManyCalls", err)
	}
	if tab.waiting() != 2 {
		t.Fatalf("waiting = %d, want 2", tab.waiting())
	}
	for _, id := range []uint64{0, 1 << 40, id2 + 1<<slotBits} {
		if got := tab.take(id); got != nil {
			t.Fatalf("take(%#x) found a question", id)
		}
	}
	if got := tab.take(id2); got != q2 {
		t.Fatal("take(id2) did not return q2")
	}
}
