package rpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
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
	ctx := testutil.Context(t)
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
	if err := conn.Root().Call(testutil.Context(t), "ping", &depth, 9); err != nil || depth != 9 {
		t.Fatalf("ping(9) = %d, %v; want 9", depth, err)
	}
}

func TestCallbackThroughPassedReference(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	two := newTwo()
	if err := conn.Root().Call(testutil.Context(t), "callBack", nil, two, 12); err != nil {
		t.Fatal(err)
	}
	if got := <-two.got; got != 12 {
		t.Fatalf("print got %d, want 12", got)
	}
}

func TestDisconnectFailsPendingCalls(t *testing.T) {
	calc := newCalc()
	srv, conn := pair(t, calc, nil)
	ctx := testutil.Context(t)
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
	ctx, cancel := context.WithCancel(testutil.Context(t))
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
	ctx, cancel := context.WithTimeout(testutil.Context(t), 2*time.Second)
	defer cancel()
	var left time.Duration
	if err := conn.Root().Call(ctx, "deadline", &left); err != nil {
		t.Fatal(err)
	}
	if left <= 0 || left > 2*time.Second {
		t.Fatalf("handler's deadline is %v away, want within (0, 2s]", left)
	}
	short, cancel2 := context.WithTimeout(testutil.Context(t), 50*time.Millisecond)
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
	ctx := testutil.Context(t)
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
	if !errors.As(err, &re) || !re.Expected || re.Type != "error" || !rpc.IsExpected(err) {
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
	ctx := testutil.Context(t)
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
	err := conn.Root().Call(testutil.Context(t), "panic", nil)
	if !errors.As(err, &re) || !strings.Contains(re.Stack, "RemotePanic") {
		t.Fatalf("with stack traces on, RemoteError.Stack = %q", re.Stack)
	}
}

// TestOverload: a caller keeps to the limit its peer announced: a call past
// it waits (here until its context ends) and is not refused; a peer that
// ignores the limit gets ErrOverloaded (code 6).
func TestOverload(t *testing.T) {
	calc := newCalc()
	_, addr := secServe(t, calc, rpc.WithMaxHandlers(2))
	ctx := testutil.Context(t)
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- conn.Root().Call(ctx, "block", nil) }()
	}
	<-calc.started
	<-calc.started
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := conn.Root().Call(short, "add", nil, Args{1, 2}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past the handler limit = %v, want it to wait until DeadlineExceeded", err)
	}
	// A raw peer sends a third call while two block.
	p := dialRaw(t, addr, nil)
	st, err := p.lane(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(callMsg(1, 0, "block"))
	st.Write(callMsg(2, 0, "block"))
	<-calc.started
	<-calc.started
	st.Write(callMsg(3, 0, "block"))
	if a, ok := p.waitAnswer(ctx, 3); !ok || a.typ != 3 || a.code != 6 {
		t.Fatalf("call past the announced limit = %+v (%v), want ERROR code 6 (ErrOverloaded)", a, ok)
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
	ctx := testutil.Context(t)
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
	ctx := testutil.Context(t)
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
func (c *Calc) RemoteSmall(x int8) int8 { return x }

func (c *Calc) RemoteTypeOf(v any) string { return fmt.Sprintf("%T:%v", v, v) }

func (c *Calc) RemoteBytes(b []byte, s string, f float64, ok bool, u uint32) string {
	return fmt.Sprintf("%s|%s|%g|%v|%d", b, s, f, ok, u)
}

func TestScalars(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
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

// Panicky panics when called, also when it came home as a local *Ref.

// Blob is a gob value of any size.
type Blob struct {
	Tag  int
	Data []byte
}

func (c *Calc) RemoteBlob(b Blob) Blob { return b }

// Messages of every size share one lane each way, in order: small ones
// parsed as they arrive, large ones read as they stream in, and the lane
// going back and forth between the two.
func TestMixedSizesOnOneLane(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithMaxLanes(1)}, rpc.WithMaxLanes(1))
	ctx := testutil.Context(t)
	sizes := []int{10, 70 << 10, 100, 1 << 20, 0, 64<<10 - 64, 64<<10 + 1, 3, 300 << 10, 5}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(sizes))
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, n := range sizes {
				in := Blob{Tag: g*100 + i, Data: bytes.Repeat([]byte{byte(g + i)}, n)}
				var out Blob
				if err := conn.Root().Call(ctx, "blob", &out, in); err != nil {
					errs <- fmt.Errorf("blob %d bytes: %w", n, err)
					return
				}
				if out.Tag != in.Tag || !bytes.Equal(out.Data, in.Data) {
					errs <- fmt.Errorf("blob %d bytes came back as tag %d, %d bytes", n, out.Tag, len(out.Data))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
