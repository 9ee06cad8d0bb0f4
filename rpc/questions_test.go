package rpc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
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
// context itself); once they have all returned the watch stays, idle, and
// ends with its context. Calls each with a context of their own are not
// watched.
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
		name  string
		ctx   func() context.Context
		want  []int // the watches' counts while the calls wait
		after []int // and once they have returned
	}{
		{"shared", func() context.Context { return shared }, []int{calls - 1}, []int{0}},
		{"own", func() context.Context {
			c, cancel := context.WithCancel(shared)
			t.Cleanup(cancel)
			return c
		}, []int{0}, []int{0}},
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
		if counts := watches(); !slices.Equal(counts, tc.after) {
			t.Fatalf("%s: watches counting %v once every call returned, want %v", tc.name, counts, tc.after)
		}
	}
	cancel()
	testutil.Eventually(t, "the idle watch to end with its context", func() bool { return len(watches()) == 0 })
}

// gateRoot's Hold runs until open is called; Busy runs until busy is
// closed.
type gateRoot struct {
	entered atomic.Int64
	mu      sync.Mutex
	release chan struct{}
	busy    chan struct{}
	busyIn  atomic.Int64
}

func (h *gateRoot) RemoteBusy() {
	h.busyIn.Add(1)
	<-h.busy
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

// TestIdleWatchesMakeRoom: idle watches, of contexts whose calls have all
// returned, give their places to new ones once maxWatches are listed; a
// context with calls waiting keeps its watch.
func TestIdleWatchesMakeRoom(t *testing.T) {
	root := &gateRoot{release: make(chan struct{})}
	_, client := connPair(t, root, nil)
	watched := func() (ctxs []context.Context, counts []int) {
		client.questions.mu.Lock()
		defer client.questions.mu.Unlock()
		for _, w := range client.questions.ctxs.list {
			ctxs, counts = append(ctxs, w.ctx), append(counts, w.n)
		}
		return ctxs, counts
	}
	entered := int64(0)
	// calls makes n calls with ctx and waits until they are all in the
	// handler; the returned function lets them return and checks them.
	calls := func(ctx context.Context, n int) func() {
		errs := make(chan error, n)
		for range n {
			go func() { errs <- client.Root().Call(ctx, "hold", nil) }()
		}
		entered += int64(n)
		testutil.Eventually(t, "the calls to reach the handler", func() bool { return root.entered.Load() == entered })
		return func() {
			root.open()
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	busy, cancelBusy := context.WithCancel(context.Background())
	defer cancelBusy()
	root.busy = make(chan struct{})
	busyErrs := make(chan error, 3)
	for range 3 {
		go func() { busyErrs <- client.Root().Call(busy, "busy", nil) }()
	}
	testutil.Eventually(t, "the busy calls to reach the handler", func() bool { return root.busyIn.Load() == 3 })
	// busy's watch counts 2 of its calls throughout.
	var ctxs []context.Context
	for i := range 2 * maxWatches {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctxs = append(ctxs, ctx)
		calls(ctx, 2)()
		got, counts := watched()
		if len(got) > maxWatches {
			t.Fatalf("context %d: %d watches listed, more than %d", i, len(got), maxWatches)
		}
		if !slices.Contains(got, busy) {
			t.Fatalf("context %d: the busy context lost its watch (counts %v)", i, counts)
		}
		if !slices.Contains(got, ctxs[i]) {
			t.Fatalf("context %d: not watched (counts %v)", i, counts)
		}
	}
	close(root.busy)
	for range 3 {
		if err := <-busyErrs; err != nil {
			t.Fatal(err)
		}
	}
}
