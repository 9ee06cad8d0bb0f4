package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

type Args struct{ A, B int }

// DivError is a handler error with a type of its own.
type DivError struct{ A int }

func (e *DivError) Error() string { return fmt.Sprintf("cannot divide %d by zero", e.A) }

// Calc is the server's root object in these tests.
type Calc struct {
	started chan struct{} // Wait and Block signal here when they start
	release chan struct{} // Block waits for this
	seen    chan error    // Wait reports the context error it saw
	notes   chan string   // Note (one-way) delivers here

	mu   sync.Mutex
	kept *rpc.Ref
}

func newCalc() *Calc {
	return &Calc{
		started: make(chan struct{}, 16),
		release: make(chan struct{}),
		seen:    make(chan error, 16),
		notes:   make(chan string, 16),
	}
}

func (c *Calc) RemoteAdd(a Args) int { return a.A + a.B }

func (c *Calc) RemoteDiv(a Args) (int, error) {
	if a.B == 0 {
		return 0, &DivError{A: a.A}
	}
	return a.A / a.B, nil
}

func (c *Calc) RemoteExpected() error { return rpc.Expected(errors.New("not today")) }

func (c *Calc) RemotePanic() int { panic("boom") }

func (c *Calc) RemoteSum(xs ...int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func (c *Calc) RemoteIsNil(p *Args) bool { return p == nil }

func (c *Calc) RemoteZero() (Args, error) { return Args{}, nil }

func (c *Calc) RemoteNote(s string) { c.notes <- s }

func (c *Calc) RemoteWait(ctx context.Context) error {
	c.started <- struct{}{}
	<-ctx.Done()
	c.seen <- ctx.Err()
	return ctx.Err()
}

func (c *Calc) RemoteDeadline(ctx context.Context) (time.Duration, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, errors.New("no deadline")
	}
	return time.Until(dl), nil
}

func (c *Calc) RemoteBlock() {
	c.started <- struct{}{}
	<-c.release
}

// RemoteKeep stores the reference and reports whether it is the one stored
// before (identity of a twice-sent object).
func (c *Calc) RemoteKeep(r *rpc.Ref) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	same := c.kept == r
	c.kept = r
	return same
}

// RemoteCallKept calls print on the kept reference.
func (c *Calc) RemoteCallKept(ctx context.Context, n int) error {
	c.mu.Lock()
	r := c.kept
	c.mu.Unlock()
	return r.Call(ctx, "print", nil, n)
}

// RemoteReleaseKept releases the kept reference.
func (c *Calc) RemoteReleaseKept() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kept.Release()
	c.kept = nil
}

// RemoteEcho returns the reference it was given: it goes home.
func (c *Calc) RemoteEcho(r *rpc.Ref) *rpc.Ref { return r }

// RemoteGiveBack calls take on r with r itself as the argument.
func (c *Calc) RemoteGiveBack(ctx context.Context, r *rpc.Ref) (bool, error) {
	var same bool
	err := r.Call(ctx, "take", &same, r)
	return same, err
}

// RemoteCallBack calls print on r.
func (c *Calc) RemoteCallBack(ctx context.Context, r *rpc.Ref, n int) error {
	return r.Call(ctx, "print", nil, n)
}

// RemoteNewCounter returns a new object by reference.
func (c *Calc) RemoteNewCounter(start int) *Counter { return &Counter{n: start} }

// RemotePing calls the peer's root ping with n-1 until n is 0, so that
// calls nest A->B->A->B...
func (c *Calc) RemotePing(ctx context.Context, n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	conn, _ := rpc.ConnFromContext(ctx)
	var r int
	err := conn.Root().Call(ctx, "ping", &r, n-1)
	return r + 1, err
}

// Counter is a referenceable the server hands out.
type Counter struct {
	rpc.Referenceable
	mu sync.Mutex
	n  int
}

func (c *Counter) RemoteIncr() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// Two is the client's referenceable, as in the seed.
type Two struct {
	rpc.Referenceable
	got chan int
}

func newTwo() *Two { return &Two{got: make(chan int, 16)} }

func (t *Two) RemotePrint(n int) { t.got <- n }

// RemoteTake reports whether the object it was given is t itself.
func (t *Two) RemoteTake(self *Two) bool { return self == t }

// Pinger is the client's root in the nested-callback test.
type Pinger struct{}

func (Pinger) RemotePing(ctx context.Context, n int) (int, error) {
	return (&Calc{}).RemotePing(ctx, n)
}

func TestCallBothWays(t *testing.T) {
	_, conn := pair(t, newCalc(), nil, rpc.WithRoot(Pinger{}))
	ctx := testCtx(t)
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, Args{2, 3}); err != nil || sum != 5 {
		t.Fatalf("add = %d, %v; want 5", sum, err)
	}
	if err := conn.Root().Call(ctx, "Add", &sum, Args{4, 3}); err != nil || sum != 7 {
		t.Fatalf("Add = %d, %v; want 7", sum, err)
	}
	// The server calls the client's root back inside the client's call.
	var depth int
	if err := conn.Root().Call(ctx, "ping", &depth, 2); err != nil || depth != 2 {
		t.Fatalf("ping(2) = %d, %v; want 2", depth, err)
	}
}

func TestNestedCallbacks(t *testing.T) {
	_, conn := pair(t, newCalc(), nil, rpc.WithRoot(Pinger{}))
	var depth int
	// 9 calls: client->server->client->... alternating, depth 9 >= 4.
	if err := conn.Root().Call(testCtx(t), "ping", &depth, 9); err != nil || depth != 9 {
		t.Fatalf("ping(9) = %d, %v; want 9", depth, err)
	}
}

func TestCallbackThroughPassedReference(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	two := newTwo()
	if err := conn.Root().Call(testCtx(t), "callBack", nil, two, 12); err != nil {
		t.Fatal(err)
	}
	if got := <-two.got; got != 12 {
		t.Fatalf("print got %d, want 12", got)
	}
}

func TestTwiceSentObjectHasOneIdentity(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx := testCtx(t)
	two := newTwo()
	var same bool
	if err := conn.Root().Call(ctx, "keep", &same, two); err != nil || same {
		t.Fatalf("first keep = %v, %v; want false", same, err)
	}
	if err := conn.Root().Call(ctx, "keep", &same, two); err != nil || !same {
		t.Fatalf("second keep = %v, %v; want true (same *Ref)", same, err)
	}
	if err := conn.Root().Call(ctx, "keep", &same, newTwo()); err != nil || same {
		t.Fatalf("keep of another object = %v, %v; want false", same, err)
	}
}

func TestReferenceComesHome(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	two := newTwo()
	// As a result: the server returns the *Ref it got; the client gets its
	// own object back.
	var back *Two
	if err := conn.Root().Call(ctx, "echo", &back, two); err != nil {
		t.Fatal(err)
	}
	if back != two {
		t.Fatalf("echo returned %p, want the original %p", back, two)
	}
	// As an argument: the server passes the reference to a call on itself;
	// the client's method receives the original object.
	var same bool
	if err := conn.Root().Call(ctx, "giveBack", &same, two); err != nil || !same {
		t.Fatalf("giveBack = %v, %v; want true", same, err)
	}
	// Into a *Ref reply: a local reference that calls the object directly.
	var ref *rpc.Ref
	if err := conn.Root().Call(ctx, "echo", &ref, two); err != nil {
		t.Fatal(err)
	}
	if err := ref.Call(ctx, "print", nil, 7); err != nil {
		t.Fatal(err)
	}
	if got := <-two.got; got != 7 {
		t.Fatalf("local ref print got %d, want 7", got)
	}
}

func TestReferenceReturnedAsResult(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	var counter *rpc.Ref
	if err := conn.Root().Call(ctx, "newCounter", &counter, 10); err != nil {
		t.Fatal(err)
	}
	for want := 11; want <= 12; want++ {
		var n int
		if err := counter.Call(ctx, "incr", &n); err != nil || n != want {
			t.Fatalf("incr = %d, %v; want %d", n, err, want)
		}
	}
}

func TestRelease(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx := testCtx(t)
	two := newTwo()
	for range 3 { // three transmissions of the same object
		if err := conn.Root().Call(ctx, "keep", nil, two); err != nil {
			t.Fatal(err)
		}
	}
	if n := conn.Stats().Exports; n != 1 {
		t.Fatalf("exports = %d, want 1", n)
	}
	if err := conn.Root().Call(ctx, "callKept", nil, 5); err != nil {
		t.Fatal(err)
	}
	<-two.got
	if err := conn.Root().Call(ctx, "releaseKept", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the export to be dropped", func() bool { return conn.Stats().Exports == 0 })
}

func TestReleasedRefFails(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	var counter *rpc.Ref
	if err := conn.Root().Call(ctx, "newCounter", &counter, 0); err != nil {
		t.Fatal(err)
	}
	counter.Release()
	counter.Release() // twice is harmless
	if err := counter.Call(ctx, "incr", nil); !errors.Is(err, rpc.ErrReleased) {
		t.Fatalf("call after Release = %v, want ErrReleased", err)
	}
}

func TestGCReleasesUnreachableRef(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	// The server receives the reference and drops it without Release.
	if err := conn.Root().Call(ctx, "callBack", nil, newTwo(), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the GC backstop to release the export", func() bool {
		runtime.GC()
		return conn.Stats().Exports == 0
	})
}

func TestPassingLastReferenceToItsOwnCall(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	var counter *rpc.Ref
	if err := conn.Root().Call(ctx, "newCounter", &counter, 0); err != nil {
		t.Fatal(err)
	}
	// The last reference travels home inside a call made on it, and is
	// released while that call is in flight.
	done := make(chan error, 1)
	go func() { done <- conn.Root().Call(ctx, "echo", nil, counter) }()
	counter.Release()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, rpc.ErrReleased) {
			t.Fatalf("echo = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: call with its own last reference did not return")
	}
	if err := conn.Root().Call(ctx, "add", nil, Args{1, 1}); err != nil {
		t.Fatalf("connection unusable afterwards: %v", err)
	}
}

func TestDisconnectFailsPendingCalls(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	ctx := testCtx(t)
	defer close(calc.release)
	notified := make(chan error, 2)
	conn.NotifyOnDisconnect(func(err error) { notified <- err })
	var counter *rpc.Ref
	if err := conn.Root().Call(ctx, "newCounter", &counter, 0); err != nil {
		t.Fatal(err)
	}
	counter.NotifyOnDisconnect(func(err error) { notified <- err })
	errc := make(chan error, 3)
	for range 3 {
		go func() { errc <- conn.Root().Call(ctx, "block", nil) }()
	}
	for range 3 {
		<-calc.started
	}
	serverConn(t, srv).Close()
	for range 3 {
		select {
		case err := <-errc:
			if !errors.Is(err, rpc.ErrConnectionLost) {
				t.Fatalf("pending call = %v, want ErrConnectionLost", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("pending call did not fail")
		}
	}
	for range 2 {
		if err := <-notified; !errors.Is(err, rpc.ErrConnectionLost) {
			t.Fatalf("notified with %v", err)
		}
	}
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	start := time.Now()
	if err := counter.Call(ctx, "incr", nil); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call on dead reference = %v, want ErrConnectionLost", err)
	}
	if err := conn.Root().Call(ctx, "add", nil, Args{}); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call on dead root = %v, want ErrConnectionLost", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("calls on a dead connection took %v", d)
	}
}

func TestCancelReachesHandler(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() { errc <- conn.Root().Call(ctx, "wait", nil) }()
	<-calc.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call = %v, want context.Canceled", err)
	}
	select {
	case err := <-calc.seen:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler saw %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not reach the handler")
	}
	if n := conn.Stats().PendingCalls; n != 0 {
		t.Fatalf("pending calls after cancel = %d, want 0", n)
	}
}

func TestDeadlineReachesHandler(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	var left time.Duration
	if err := conn.Root().Call(ctx, "deadline", &left); err != nil {
		t.Fatal(err)
	}
	if left <= 0 || left > 2*time.Second {
		t.Fatalf("handler's deadline is %v away, want within (0, 2s]", left)
	}
	short, cancel2 := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel2()
	err := conn.Root().Call(short, "wait", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline = %v, want DeadlineExceeded", err)
	}
	if err := <-calc.seen; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler saw %v, want DeadlineExceeded", err)
	}
}

func TestErrorsCrossTyped(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	root := conn.Root()

	err := root.Call(ctx, "div", nil, Args{7, 0})
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("div by zero = %v, want *RemoteError", err)
	}
	if re.Type != "*rpc_test.DivError" || re.Message != "cannot divide 7 by zero" || re.Expected {
		t.Fatalf("RemoteError = %+v", re)
	}
	if err := root.Call(ctx, "noSuch", nil); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("unknown method = %v, want ErrNoSuchMethod", err)
	}
	if err := root.Call(ctx, "add", nil, "x", "y"); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("wrong arg count = %v, want ErrBadArguments", err)
	}
	if err := root.Call(ctx, "add", nil, "not args"); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("wrong arg type = %v, want ErrBadArguments", err)
	}
	err = root.Call(ctx, "expected", nil)
	if !errors.As(err, &re) || !re.Expected || re.Type != "*errors.errorString" || !rpc.IsExpected(err) {
		t.Fatalf("expected error = %#v", err)
	}
	var s string
	if err := root.Call(ctx, "add", &s, Args{1, 2}); !errors.Is(err, rpc.ErrBadReply) {
		t.Fatalf("int result into *string = %v, want ErrBadReply", err)
	}
	// The connection is still good after all of that.
	var sum int
	if err := root.Call(ctx, "add", &sum, Args{1, 2}); err != nil || sum != 3 {
		t.Fatalf("add after errors = %d, %v", sum, err)
	}
}

func TestPanicContained(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	err := conn.Root().Call(ctx, "panic", nil)
	var re *rpc.RemoteError
	if !errors.Is(err, rpc.ErrPanic) || !errors.As(err, &re) {
		t.Fatalf("panicking handler = %v, want ErrPanic", err)
	}
	if !strings.Contains(re.Message, "boom") || re.Stack != "" {
		t.Fatalf("RemoteError = %+v; want the panic value and no stack", re)
	}
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, Args{1, 2}); err != nil || sum != 3 {
		t.Fatalf("add after panic = %d, %v", sum, err)
	}
}

func TestStackTracesOptIn(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithStackTraces(true)})
	var re *rpc.RemoteError
	err := conn.Root().Call(testCtx(t), "panic", nil)
	if !errors.As(err, &re) || !strings.Contains(re.Stack, "RemotePanic") {
		t.Fatalf("with stack traces on, RemoteError.Stack = %q", re.Stack)
	}
}

func TestOverload(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, []rpc.Option{rpc.WithMaxHandlers(2)})
	ctx := testCtx(t)
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- conn.Root().Call(ctx, "block", nil) }()
	}
	<-calc.started
	<-calc.started
	if err := conn.Root().Call(ctx, "add", nil, Args{1, 2}); !errors.Is(err, rpc.ErrOverloaded) {
		t.Fatalf("call past the handler limit = %v, want ErrOverloaded", err)
	}
	close(calc.release)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var sum int
	if err := conn.Root().Call(ctx, "add", &sum, Args{1, 2}); err != nil || sum != 3 {
		t.Fatalf("add after overload = %d, %v", sum, err)
	}
}

func TestOneWayAndAsync(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx := testCtx(t)
	if err := conn.Root().Send(ctx, "note", "hello"); err != nil {
		t.Fatal(err)
	}
	if got := <-calc.notes; got != "hello" {
		t.Fatalf("note got %q", got)
	}
	var a, b int
	c1 := conn.Root().Go(ctx, "add", &a, nil, Args{1, 2})
	c2 := conn.Root().Go(ctx, "add", &b, nil, Args{3, 4})
	if c := <-c1.Done; c.Error != nil || a != 3 {
		t.Fatalf("async add = %d, %v", a, c.Error)
	}
	if c := <-c2.Done; c.Error != nil || b != 7 {
		t.Fatalf("async add = %d, %v", b, c.Error)
	}
	cctx, cancel := context.WithCancel(ctx)
	c3 := conn.Root().Go(cctx, "wait", nil, nil)
	<-calc.started
	cancel()
	if c := <-c3.Done; !errors.Is(c.Error, context.Canceled) {
		t.Fatalf("cancelled async call = %v", c.Error)
	}
}

func TestValues(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	var n int
	if err := conn.Root().Call(ctx, "sum", &n, 1, 2, 3, 4); err != nil || n != 10 {
		t.Fatalf("sum = %d, %v", n, err)
	}
	if err := conn.Root().Call(ctx, "sum", &n); err != nil || n != 0 {
		t.Fatalf("empty sum = %d, %v", n, err)
	}
	var isNil bool
	if err := conn.Root().Call(ctx, "isNil", &isNil, (*Args)(nil)); err != nil || !isNil {
		t.Fatalf("isNil(nil) = %v, %v", isNil, err)
	}
	if err := conn.Root().Call(ctx, "isNil", &isNil, &Args{1, 2}); err != nil || isNil {
		t.Fatalf("isNil(&Args) = %v, %v", isNil, err)
	}
	z := Args{A: 9, B: 9}
	if err := conn.Root().Call(ctx, "zero", &z); err != nil || z != (Args{}) {
		t.Fatalf("zero = %+v, %v; want the zero value", z, err)
	}
}

// Holder nests a referenceable in a struct: refused when sent.
type Holder struct {
	Name string
	Two  *Two
}

func TestNestedReferenceRefused(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	err := conn.Root().Call(testCtx(t), "isNil", nil, &Holder{Name: "x", Two: newTwo()})
	if err == nil || !strings.Contains(err.Error(), "top-level") {
		t.Fatalf("nested referenceable = %v, want a clear refusal", err)
	}
	var sum int
	if err := conn.Root().Call(testCtx(t), "add", &sum, Args{1, 2}); err != nil || sum != 3 {
		t.Fatalf("add after refusal = %d, %v", sum, err)
	}
}

type badRoot struct{}

func (badRoot) RemoteNested(h Holder) {}

func TestNestedReferenceRefusedAtRegistration(t *testing.T) {
	_, err := rpc.NewServer(badRoot{})
	if err == nil || !strings.Contains(err.Error(), "Nested") {
		t.Fatalf("NewServer with a nested reference parameter = %v", err)
	}
}

func TestNoRoot(t *testing.T) {
	_, conn := pair(t, nil, nil)
	if err := conn.Root().Call(testCtx(t), "add", nil); !errors.Is(err, rpc.ErrNoSuchObject) {
		t.Fatalf("call on a missing root = %v, want ErrNoSuchObject", err)
	}
}

func TestGoroutinesBackToBaseline(t *testing.T) {
	base := settledGoroutines()
	func() {
		srv, err := rpc.NewServer(newCalc())
		if err != nil {
			t.Fatal(err)
		}
		_, conn := pairWith(t, srv)
		ctx := testCtx(t)
		two := newTwo()
		for i := range 20 {
			if err := conn.Root().Call(ctx, "callBack", nil, two, i); err != nil {
				t.Fatal(err)
			}
			<-two.got
		}
		conn.Close()
		srv.Close()
	}()
	if n := settledGoroutines(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

func (c *Calc) RemoteSmall(x int8) int8 { return x }

func (c *Calc) RemoteTypeOf(v any) string { return fmt.Sprintf("%T:%v", v, v) }

func (c *Calc) RemoteBytes(b []byte, s string, f float64, ok bool, u uint32) string {
	return fmt.Sprintf("%s|%s|%g|%v|%d", b, s, f, ok, u)
}

func TestScalars(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	root := conn.Root()
	var s string
	if err := root.Call(ctx, "bytes", &s, []byte("ab"), "cd", 1.5, true, uint32(7)); err != nil || s != "ab|cd|1.5|true|7" {
		t.Fatalf("bytes = %q, %v", s, err)
	}
	var small int8
	if err := root.Call(ctx, "small", &small, -100); err != nil || small != -100 {
		t.Fatalf("small(-100) = %d, %v", small, err)
	}
	if err := root.Call(ctx, "small", &small, 300); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("small(300) = %v, want ErrBadArguments (overflow)", err)
	}
	if err := root.Call(ctx, "small", &small, "x"); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("small(\"x\") = %v, want ErrBadArguments", err)
	}
	if err := root.Call(ctx, "typeOf", &s, 42); err != nil || s != "int:42" {
		t.Fatalf("typeOf(42) = %q, %v", s, err)
	}
	var anyReply any
	if err := root.Call(ctx, "typeOf", &anyReply, "z"); err != nil || anyReply != "string:z" {
		t.Fatalf("typeOf into *any = %#v, %v", anyReply, err)
	}
	var wide int64
	if err := root.Call(ctx, "small", &wide, 5); err != nil || wide != 5 {
		t.Fatalf("int8 result into *int64 = %d, %v", wide, err)
	}
	if err := root.Call(ctx, "small", &s, 5); !errors.Is(err, rpc.ErrBadReply) {
		t.Fatalf("int8 result into *string = %v, want ErrBadReply", err)
	}
}

func TestShutdownLetsRunningCallsFinish(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() { errc <- conn.Root().Call(ctx, "block", nil) }()
	<-calc.started
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	// New calls are refused with a clear error while the old one runs. (A
	// call that races the GOAWAY on a lane the server never accepted is only
	// failed when the server closes; the short timeout moves past it.)
	eventually(t, "new calls to be refused", func() bool {
		actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		return errors.Is(conn.Root().Call(actx, "add", nil, Args{1, 2}), rpc.ErrShutdown)
	})
	close(calc.release)
	if err := <-errc; err != nil {
		t.Fatalf("in-flight call = %v, want success", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after Shutdown")
	}
}

func TestShutdownDeadline(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	defer close(calc.release)
	errc := make(chan error, 1)
	go func() { errc <- conn.Root().Call(testCtx(t), "block", nil) }()
	<-calc.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline = %v", err)
	}
	if err := <-errc; !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call cut by Shutdown = %v, want ErrConnectionLost", err)
	}
}

// Panicky panics when called, also when it came home as a local *Ref.
type Panicky struct{ rpc.Referenceable }

func (*Panicky) RemoteBoom() { panic("boom") }

func TestLocalRefPanicMatchesErrPanic(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	var back *rpc.Ref
	if err := conn.Root().Call(ctx, "echo", &back, &Panicky{}); err != nil {
		t.Fatal(err)
	}
	if err := back.Call(ctx, "boom", nil); !errors.Is(err, rpc.ErrPanic) {
		t.Fatalf("panic through a local *Ref = %v, want ErrPanic", err)
	}
}

func TestIntrospection(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithIntrospection(true)})
	ms, err := conn.Root().Methods(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var add *rpc.MethodInfo
	for i := range ms {
		if ms[i].Name == "Add" {
			add = &ms[i]
		}
	}
	if add == nil || len(add.Params) != 1 || add.Params[0] != "rpc_test.Args" || add.Result != "int" || add.Error {
		t.Fatalf("Add described as %+v in %d methods", add, len(ms))
	}
	pt := add.ParamTypes[0]
	if pt.Kind != "struct" || len(pt.Fields) != 2 || pt.Fields[0].Name != "A" || pt.Fields[1].Type.Kind != "int" || add.ResultType.Kind != "int" {
		t.Fatalf("Add's types described as %+v -> %+v", pt, add.ResultType)
	}
	for _, m := range ms {
		if m.Name == "Sum" && (len(m.Params) != 1 || m.Params[0] != "...int") {
			t.Fatalf("Sum described as %+v", m)
		}
	}
}

func TestIntrospectionOffByDefault(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	if _, err := conn.Root().Methods(testCtx(t)); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("introspection without the option = %v, want ErrNoSuchMethod", err)
	}
}

func TestServerStats(t *testing.T) {
	srv, conn := pair(t, newCalc(), nil)
	ctx := testCtx(t)
	for range 3 {
		if err := conn.Root().Call(ctx, "add", nil, Args{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Root().Call(ctx, "nope", nil)
	conn.Root().Call(ctx, "div", nil, Args{1, 0})
	conn.Root().Call(ctx, "panic", nil)
	if err := conn.Root().Call(ctx, "keep", nil, newTwo()); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Conns != 1 || st.ConnsTotal != 1 || st.CallsIn != 7 || st.Exports != 0 {
		t.Fatalf("server stats %+v", st)
	}
	want := map[string]uint64{"no_such_method": 1, "handler": 1, "panic": 1}
	for k, v := range want {
		if st.Errors[k] != v {
			t.Fatalf("errors %v, want %v", st.Errors, want)
		}
	}
	if st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("no traffic counted: %+v", st)
	}
	ct := conn.Totals()
	if ct.CallsOut != 7 || ct.Exports != 1 || ct.BytesOut < st.BytesIn {
		t.Fatalf("client totals %+v (server read %d bytes)", ct, st.BytesIn)
	}
	conn.Close()
	eventually(t, "the server to count the connection closed", func() bool { return srv.Stats().Conns == 0 })
}

func TestExportLimitViolationsCloseTheConnection(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithMaxExports(2)})
	ctx := testCtx(t)
	for range 2 {
		var r *rpc.Ref
		if err := conn.Root().Call(ctx, "newCounter", &r, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Each further reply would export past the limit: the caller learns why,
	// and the fourth such violation closes the connection (PB's rule).
	for i := 1; i <= 3; i++ {
		if err := conn.Root().Call(ctx, "newCounter", nil, 0); !errors.Is(err, rpc.ErrTooManyReferences) {
			t.Fatalf("violation %d = %v, want ErrTooManyReferences", i, err)
		}
	}
	conn.Root().Call(ctx, "newCounter", nil, 0)
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after repeated export violations")
	}
}

func TestCallStuckWritingHonoursItsContext(t *testing.T) {
	// A peer that completes the transport handshake and accepts streams
	// but never reads them: the call's write stalls on flow control.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		sess, err := transport.Server(context.Background(), nc, nil)
		if err != nil {
			return
		}
		defer sess.Close()
		for {
			if _, err := sess.Accept(context.Background()); err != nil {
				return
			}
		}
	}()
	conn, err := rpc.Dial(testCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = conn.Root().Call(ctx, "echo", nil, make([]byte, 8<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled call = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stalled call returned after %v", d)
	}
}
