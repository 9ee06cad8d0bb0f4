package rpc

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inlineRoot's handlers record the goroutine each ran on; Wait blocks until
// a Release call arrives on the connection, and Nested calls the caller back
// on the same connection with a context of its own.
type inlineRoot struct {
	release chan struct{}
	on      atomic.Value
}

func (r *inlineRoot) RemoteAdd(a, b int) int {
	r.on.Store(goroutineID())
	return a + b
}

func (r *inlineRoot) RemoteWait() { <-r.release }

func (r *inlineRoot) RemoteRelease() { close(r.release) }

func (r *inlineRoot) RemoteNested(ctx context.Context) (int, error) {
	var n int
	c, _ := ConnFromContext(ctx)
	err := c.Root().Call(context.Background(), "add", &n, 2, 3)
	return n, err
}

// goroutineID returns the calling goroutine's id, from its stack trace.
func goroutineID() string {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	return strings.Fields(string(b[:n]))[1]
}

// A handler that blocks until the peer's next call arrives, run on the
// reader, has the reader taken from it: the next call is read and runs, and
// both return. The method's next calls run on workers (its backoff).
func TestInlineHandlerWaitingForTheNextCall(t *testing.T) {
	root := &inlineRoot{release: make(chan struct{})}
	server, client := connPair(t, root, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	for range 3 { // a worker, idle, that the calls below may run in place of
		if err := client.Root().Call(ctx, "add", &n, 1, 2); err != nil || n != 3 {
			t.Fatalf("add = %d, %v", n, err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- client.Root().Call(ctx, "wait", nil) }()
	time.Sleep(time.Millisecond)
	if err := client.Root().Call(ctx, "release", nil); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("wait: %v", err)
	}
	p := &server.answers.workers
	server.answers.mu.Lock()
	var backedOff bool
	for m, b := range p.blocking {
		if m.Name == "Wait" && b.next == minInlineBackoff {
			backedOff = true
		}
	}
	server.answers.mu.Unlock()
	if !backedOff {
		t.Error("Wait held the reader up and has no backoff")
	}
}

// Calls made one after another run on the server's reader, inline: their
// handler runs on the goroutine that read them, which is the one that read
// the next call too, and no handler goroutine is woken for them.
func TestSequentialCallsRunInline(t *testing.T) {
	root := &inlineRoot{release: make(chan struct{})}
	_, client := connPair(t, root, nil)
	ctx := context.Background()
	var n int
	seen := map[any]int{}
	for range 50 {
		if err := client.Root().Call(ctx, "add", &n, 1, 2); err != nil || n != 3 {
			t.Fatalf("add = %d, %v", n, err)
		}
		seen[root.on.Load()]++
	}
	most := 0
	for _, k := range seen {
		most = max(most, k)
	}
	if most < 45 {
		t.Fatalf("50 sequential calls ran on %d goroutines (%v): not on the reader", len(seen), seen)
	}
}

// A handler run on the reader that calls the caller back on the same
// connection with a context of its own (not its handler's, so not through
// its lease) still gets its answer: the reader is taken from it.
func TestInlineHandlerCallingBackWithoutItsContext(t *testing.T) {
	croot := &inlineRoot{release: make(chan struct{})}
	root := &inlineRoot{release: make(chan struct{})}
	_, client := connPair(t, root, croot)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	for range 3 {
		if err := client.Root().Call(ctx, "add", &n, 1, 2); err != nil || n != 3 {
			t.Fatalf("add = %d, %v", n, err)
		}
	}
	for range 3 {
		if err := client.Root().Call(ctx, "nested", &n); err != nil || n != 5 {
			t.Fatalf("nested = %d, %v", n, err)
		}
	}
}
