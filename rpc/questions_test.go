package rpc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An answer for a question given up finds nothing, even once the question's
// slot holds another question.
func TestQuestionTableStaleIDs(t *testing.T) {
	var tab questionTable
	tab.init(2, &Conn{}) // a peer that announced no call limit
	q1, q2, q3 := &question{}, &question{}, &question{}
	id1, err := tab.add(q1, true, nil)
	if err != nil || id1 == 0 {
		t.Fatalf("add = %d, %v", id1, err)
	}
	if got := tab.take(id1); got != q1 {
		t.Fatalf("take(id1) = %p, want q1", got)
	}
	id2, _ := tab.add(q2, true, nil) // reuses q1's slot
	if id2 == id1 {
		t.Fatalf("a reused slot got the same id %d", id2)
	}
	if got := tab.take(id1); got != nil {
		t.Fatal("a stale id took the question now in its slot")
	}
	if _, err := tab.add(q3, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.add(&question{}, true, nil); !errors.Is(err, ErrTooManyCalls) {
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

// TestSharedContextWatchedOnce: calls in flight with one context share one
// watch of it, counting every call but the first (which selects on the
// context itself), and the watch ends with the last of them; calls each
// with a context of its own are not watched.
func TestSharedContextWatchedOnce(t *testing.T) {
	const calls = 50
	root := &gateRoot{release: make(chan struct{})}
	_, client := connPair(t, root, nil)
	watches := func() (counts []int) {
		client.questions.mu.Lock()
		defer client.questions.mu.Unlock()
		for _, w := range client.questions.ctxs.list {
			counts = append(counts, w.n)
		}
		return counts
	}
	shared, cancel := context.WithCancel(context.Background())
	defer cancel()
	for phase, tc := range []struct {
		name string
		ctx  func() context.Context
		want []int
	}{
		{"shared", func() context.Context { return shared }, []int{calls - 1}},
		{"own", func() context.Context {
			c, cancel := context.WithCancel(shared)
			t.Cleanup(cancel)
			return c
		}, nil},
	} {
		errs := make(chan error, calls)
		for range calls {
			ctx := tc.ctx()
			go func() { errs <- client.Root().Call(ctx, "hold", nil) }()
		}
		deadline := time.Now().Add(30 * time.Second)
		for root.entered.Load() < int64((phase+1)*calls) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n, counts := client.questions.len(), watches(); n != calls || !slices.Equal(counts, tc.want) {
			t.Fatalf("%s: %d calls in flight, watches counting %v; want %d, %v", tc.name, n, counts, calls, tc.want)
		}
		root.open()
		for range calls {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if counts := watches(); len(counts) != 0 {
			t.Fatalf("%s: watches counting %v once every call returned, want none", tc.name, counts)
		}
	}
}

// gateRoot's Hold runs until open is called.
type gateRoot struct {
	entered atomic.Int64
	mu      sync.Mutex
	release chan struct{}
}

func (h *gateRoot) RemoteHold() {
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	h.entered.Add(1)
	<-release
}

// open lets the calls in Hold return.
func (h *gateRoot) open() {
	h.mu.Lock()
	close(h.release)
	h.release = make(chan struct{})
	h.mu.Unlock()
}
