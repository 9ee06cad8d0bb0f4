package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// poolRoot is the server of the worker pool's tests: block waits until
// release is closed; callBack calls the caller's root back with the
// handler's context; quick answers at once.
type poolRoot struct {
	started atomic.Int32
	release chan struct{}
}

func (r *poolRoot) RemoteBlock() { r.started.Add(1); <-r.release }

func (r *poolRoot) RemoteCallBack(ctx context.Context) error {
	r.started.Add(1)
	c, _ := ConnFromContext(ctx)
	return c.Root().Call(ctx, "hold", nil)
}

// CallBackDerived is callBack with a context derived from the handler's.
func (r *poolRoot) RemoteCallBackDerived(ctx context.Context) error {
	r.started.Add(1)
	c, _ := ConnFromContext(ctx)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.Root().Call(ctx, "hold", nil)
}

func (r *poolRoot) RemoteQuick(n int) int { return n + 1 }

// holdRoot is the caller's root: hold waits until release is closed.
type holdRoot struct{ release chan struct{} }

func (h *holdRoot) RemoteHold() { <-h.release }

// poolState returns the server pool's busy, active and stuck workers and
// its queued calls.
func poolState(c *Conn) (busy, active, stuck, queued int) {
	t := &c.answers
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.workers
	for _, w := range p.busy {
		if w.stuck {
			stuck++
		}
	}
	return len(p.busy), p.active, stuck, len(p.queue) - p.head
}

// Handlers that block on something of their own (a channel here) past the
// pool's limit do not hold the calls behind them: the watchdog takes their
// workers as stuck and starts the queued calls, so every handler starts,
// and quick calls made meanwhile are answered. From then on the connection
// is open: a second burst of blocking calls starts at once, none of them
// queued.
func TestStuckHandlersDoNotHoldTheQueue(t *testing.T) {
	root := &poolRoot{release: make(chan struct{})}
	server, client := connPair(t, root, nil)
	limit := server.answers.workers.limit
	n := 3 * limit
	ctx := context.Background()
	var wg sync.WaitGroup
	burst := func() {
		for range n {
			wg.Go(func() {
				if err := client.Root().Call(ctx, "block", nil); err != nil {
					t.Error(err)
				}
			})
		}
	}
	burst()
	testutil.Eventually(t, "every blocked handler to start", func() bool { return int(root.started.Load()) == n })
	for i := range 20 {
		var got int
		if err := client.Root().Call(ctx, "quick", &got, i); err != nil || got != i+1 {
			t.Fatalf("quick(%d) = %d, %v with %d handlers blocked", i, got, err, n)
		}
	}
	server.answers.mu.Lock()
	p := &server.answers.workers
	open, queued, stuck := p.open, p.queued, 0
	for _, w := range p.busy {
		if w.stuck {
			stuck++
		}
	}
	p.until = time.Now().Add(time.Hour) // open for the second burst, however slow the machine
	server.answers.mu.Unlock()
	if !open || stuck == 0 {
		t.Fatalf("open %v with %d workers taken as stuck; want open, some stuck", open, stuck)
	}
	burst()
	testutil.Eventually(t, "every handler of the second burst to start", func() bool { return int(root.started.Load()) == 2*n })
	server.answers.mu.Lock()
	again := p.queued - queued
	server.answers.mu.Unlock()
	if again != 0 {
		t.Errorf("%d calls of the second burst were queued, want none: the connection is open", again)
	}
	close(root.release)
	wg.Wait()
	testutil.Eventually(t, "the workers to be idle", func() bool { b, a, _, q := poolState(server); return b == 0 && a == 0 && q == 0 })
}

// A handler waiting for a call of its own, made with its context or one
// derived from it, gives its place to a queued call at once: as many such
// handlers as are called all run, with the watchdog (which would start them
// too, as stuck) held off.
func TestWaitingHandlersGiveTheirPlace(t *testing.T) {
	for _, method := range []string{"callBack", "callBackDerived"} {
		t.Run(method, func(t *testing.T) { testWaitingHandlers(t, method) })
	}
}

func testWaitingHandlers(t *testing.T, method string) {
	root := &poolRoot{release: make(chan struct{})}
	hold := &holdRoot{release: make(chan struct{})}
	server, client := connPair(t, root, hold)
	server.answers.mu.Lock()
	server.answers.workers.every = time.Hour
	server.answers.mu.Unlock()
	n := 4 * server.answers.workers.limit
	ctx := context.Background()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := client.Root().Call(ctx, method, nil); err != nil {
				t.Error(err)
			}
		})
	}
	// A handler counts itself started just before it calls back.
	testutil.Eventually(t, "every handler to wait in its call back", func() bool {
		busy, active, _, queued := poolState(server)
		return int(root.started.Load()) == n && busy == n && active == 0 && queued == 0
	})
	if _, _, stuck, _ := poolState(server); stuck != 0 {
		t.Errorf("%d workers taken as stuck, want none", stuck)
	}
	close(hold.release)
	wg.Wait()
	testutil.Eventually(t, "the workers to be idle", func() bool { b, a, _, q := poolState(server); return b == 0 && a == 0 && q == 0 })
}

// Quick calls from many callers at once run on at most the pool's limit of
// workers, a burst queued behind them, in order. The watchdog is held off:
// on a busy machine a worker waiting for a processor for a whole tick would
// be taken as stuck.
func TestQuickCallsShareFewWorkers(t *testing.T) {
	root := &poolRoot{release: make(chan struct{})}
	server, client := connPair(t, root, nil)
	server.answers.mu.Lock()
	server.answers.workers.every = time.Hour
	server.answers.mu.Unlock()
	limit := server.answers.workers.limit
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 200 {
				var got int
				if err := client.Root().Call(ctx, "quick", &got, g*1000+i); err != nil || got != g*1000+i+1 {
					t.Errorf("quick = %d, %v", got, err)
					return
				}
			}
		})
	}
	most := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			busy, _, stuck, _ := poolState(server)
			most = max(most, busy-stuck)
			time.Sleep(100 * time.Microsecond)
		}
	}
	if most > limit {
		t.Errorf("%d workers ran quick calls at once, want at most %d", most, limit)
	}
}

// A run queue that never empties, a call queued for each one taken, keeps
// its storage bounded.
func TestRunQueueStorageBounded(t *testing.T) {
	var p workerPool
	for range 10 {
		p.queue = append(p.queue, &incall{})
	}
	most := 0
	for range 100000 {
		p.queue = append(p.queue, &incall{})
		if p.pop() == nil {
			t.Fatal("pop returned no call")
		}
		most = max(most, cap(p.queue))
	}
	if n := len(p.queue) - p.head; n != 10 {
		t.Fatalf("%d calls queued, want 10", n)
	}
	if most > 256 {
		t.Errorf("the queue's storage grew to %d calls for 11 queued at most", most)
	}
}
