package rpc_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

func TestTwiceSentObjectHasOneIdentity(t *testing.T) {
	calc := newCalc()
	_, conn := pair(t, calc, nil)
	ctx := testutil.Context(t)
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
	ctx := testutil.Context(t)
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
	ctx := testutil.Context(t)
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
	ctx := testutil.Context(t)
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
	testutil.Eventually(t, "the export to be dropped", func() bool { return conn.Stats().Exports == 0 })
}

func TestReleasedRefFails(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
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
	srv, conn := pair(t, newCalc(), nil)
	// A deadline far away: the handler's deadline timer, stopped when the
	// handler returns, stays in the runtime's timer heap until then, and it
	// must not keep the reference reachable.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// The server receives the reference and drops it without Release.
	if err := conn.Root().Call(ctx, "callBack", nil, newTwo(), 1); err != nil {
		t.Fatal(err)
	}
	sc := serverConn(t, srv)
	testutil.Eventually(t, "the handler to end", func() bool { return sc.Stats().Handlers == 0 })
	// One collection finds the *Ref unreachable and queues its cleanup; the
	// release then only has to cross the connection. The wait is a hang
	// guard, with no further collection.
	runtime.GC()
	deadline := time.Now().Add(30 * time.Second)
	for conn.Stats().Exports != 0 || sc.Stats().Imports != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("one GC after the handler returned did not release the export: client exports %d, server imports %d",
				conn.Stats().Exports, sc.Stats().Imports)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPassingLastReferenceToItsOwnCall(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
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

type Holder struct {
	Name string
	Two  *Two
}

func TestNestedReferenceRefused(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	err := conn.Root().Call(testutil.Context(t), "isNil", nil, &Holder{Name: "x", Two: newTwo()})
	if err == nil || !strings.Contains(err.Error(), "top-level") {
		t.Fatalf("nested referenceable = %v, want a clear refusal", err)
	}
	var sum int
	if err := conn.Root().Call(testutil.Context(t), "add", &sum, Args{1, 2}); err != nil || sum != 3 {
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

type Panicky struct{ rpc.Referenceable }

func (*Panicky) RemoteBoom() { panic("boom") }

func TestLocalRefPanicMatchesErrPanic(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
	var back *rpc.Ref
	if err := conn.Root().Call(ctx, "echo", &back, &Panicky{}); err != nil {
		t.Fatal(err)
	}
	if err := back.Call(ctx, "boom", nil); !errors.Is(err, rpc.ErrPanic) {
		t.Fatalf("panic through a local *Ref = %v, want ErrPanic", err)
	}
}

func TestExportLimitViolationsCloseTheConnection(t *testing.T) {
	_, conn := pair(t, newCalc(), []rpc.Option{rpc.WithMaxExports(2)})
	ctx := testutil.Context(t)
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

// lookupRoot and Times both have an add, each its own.
type lookupRoot struct{}

func (lookupRoot) RemoteAdd(a Args) int { return a.A + a.B }
func (lookupRoot) RemoteTimes() *Times  { return &Times{} }

type Times struct{ rpc.Referenceable }

func (*Times) RemoteAdd(a Args) int { return a.A * a.B }

// Calls of the same method name on objects of different types, one after
// the other on one lane, each reach their own object's method.
func TestSameMethodNameOnTwoObjects(t *testing.T) {
	_, conn := pair(t, lookupRoot{}, nil)
	ctx := testutil.Context(t)
	var times *rpc.Ref
	if err := conn.Root().Call(ctx, "times", &times); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		var sum, product int
		if err := conn.Root().Call(ctx, "add", &sum, Args{3, i}); err != nil || sum != 3+i {
			t.Fatalf("root add(3, %d) = %d, %v", i, sum, err)
		}
		if err := times.Call(ctx, "add", &product, Args{3, i}); err != nil || product != 3*i {
			t.Fatalf("times add(3, %d) = %d, %v", i, product, err)
		}
	}
}

// TestUnsentCallReleasesItsExports: a call whose arguments fail to encode,
// after a referenceable among them was exported for it, is not sent, and the
// export it counted is taken back, both when an argument is refused before
// the message is built and when gob fails on one inside it.
func TestUnsentCallReleasesItsExports(t *testing.T) {
	_, conn := pair(t, newCalc(), nil)
	ctx := testutil.Context(t)
	type withChan struct{ C chan int }
	for _, bad := range []any{func() {}, withChan{C: make(chan int)}} {
		err := conn.Root().Call(ctx, "keep", nil, newTwo(), bad)
		if !errors.Is(err, rpc.ErrBadArguments) {
			t.Fatalf("call with a %T: %v, want ErrBadArguments", bad, err)
		}
		if n := conn.Stats().Exports; n != 0 {
			t.Fatalf("after the unsent call with a %T: %d exports, want 0", bad, n)
		}
	}
	// The connection still works, and a sent reference still counts.
	if err := conn.Root().Call(ctx, "keep", nil, newTwo()); err != nil {
		t.Fatal(err)
	}
	if n := conn.Stats().Exports; n != 1 {
		t.Fatalf("after a sent call: %d exports, want 1", n)
	}
}
