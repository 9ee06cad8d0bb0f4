package rpc

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inlineRoot's handlers record the goroutine each ran on; SlowAdd runs for a
// millisecond, more than the transport counts as quick; Wait blocks until
// a Release call arrives on the connection, and Nested calls the caller back
// on the same connection with a context of its own.
type inlineRoot struct {
	release chan struct{}
	inline  atomic.Bool // the last Add or SlowAdd ran on the transport's reader
}

func (r *inlineRoot) RemoteAdd(a, b int) int {
	var st [8 << 10]byte
	n := runtime.Stack(st[:], false)
	r.inline.Store(strings.Contains(string(st[:n]), "transport.(*Session).runPending"))
	return a + b
}

func (r *inlineRoot) RemoteSlowAdd(a, b int) int {
	time.Sleep(time.Millisecond)
	return r.RemoteAdd(a, b)
}

func (r *inlineRoot) RemoteWait() { <-r.release }

func (r *inlineRoot) RemoteRelease() { close(r.release) }

func (r *inlineRoot) RemoteNested(ctx context.Context) (int, error) {
	var n int
	c, _ := ConnFromContext(ctx)
	err := c.Root().Call(context.Background(), "add", &n, 2, 3)
	return n, err
}

// A handler that blocks until the peer's next call arrives, run on the
// reader, has the reader taken from it: the next call is read and runs, and
// both return. The method's next calls run on workers (its backoff), until
// one, run on the reader again, is quick.
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
	// Released, Wait returns at once: its backed-off calls run on workers,
	// the next on the reader, quickly, and the backoff ends.
	for range minInlineBackoff + 4 {
		if err := client.Root().Call(ctx, "wait", nil); err != nil {
			t.Fatalf("wait: %v", err)
		}
	}
	server.answers.mu.Lock()
	for m, b := range p.blocking {
		if m.Name == "Wait" {
			t.Errorf("Wait, quick again, still backs off: %+v", b)
		}
	}
	server.answers.mu.Unlock()
}

// Calls made one after another run on the server's reader, inline: the
// handler's stack is the reader's, below the transport's runPending.
func TestSequentialCallsRunInline(t *testing.T) {
	const calls = 200
	if inline := sequentialInline(t, "add", calls); inline < calls/4 {
		t.Fatalf("%d of %d sequential calls ran on the reader", inline, calls)
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

// Calls made one after another whose handler runs longer than the transport
// counts as quick still run on the server's reader: no call of the peer's
// waited for them to end (its next call comes only after their answer), so
// none held the reader up. (A busy machine may delay the peer's other input,
// such as a window update, into a handler's run: that counts as held, and
// the next 16 calls run on workers. Counted so, with the backoff doubling
// each time, 100 calls would have 4 on the reader.)
func TestSequentialSlowCallsRunInline(t *testing.T) {
	const calls = 100
	if inline := sequentialInline(t, "slowAdd", calls); inline < calls*3/5 {
		t.Fatalf("%d of %d sequential slow calls ran on the reader", inline, calls)
	}
}

// sequentialInline makes calls calls of inlineRoot's method (Add or SlowAdd)
// one after another on a new connection and returns how many ran on the
// server's reader.
func sequentialInline(t *testing.T, method string, calls int) (inline int) {
	root := &inlineRoot{release: make(chan struct{})}
	_, client := connPair(t, root, nil)
	ctx := context.Background()
	var n int
	for range calls {
		if err := client.Root().Call(ctx, method, &n, 1, 2); err != nil || n != 3 {
			t.Fatalf("%s = %d, %v", method, n, err)
		}
		if root.inline.Load() {
			inline++
		}
	}
	return inline
}
