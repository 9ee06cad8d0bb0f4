package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// heldRoot has one handler that blocks until released, and one that
// describes its arguments.
type heldRoot struct {
	entered chan struct{}
	release chan struct{}
}

type heldRec struct {
	N    int
	Name string
}

func (r *heldRoot) RemoteBlock() {
	r.entered <- struct{}{}
	<-r.release
}

func (r *heldRoot) RemoteDescribe(n int, s string, rec heldRec, p *heldRec, b []byte, f float64, ok bool, u uint) string {
	return fmt.Sprintf("%d %q %+v %v %q %g %t %d", n, s, rec, p, b, f, ok, u)
}

// heldPair connects to a server that runs one call at a time and makes a
// call of block on it, which holds the only credit until release is closed.
func heldPair(t *testing.T) (client *Conn, root *heldRoot, first chan error) {
	root = &heldRoot{entered: make(chan struct{}, 1), release: make(chan struct{})}
	_, client = connPairWith(t, root, nil, WithMaxHandlers(1))
	first = make(chan error, 1)
	go func() { first <- client.Root().Call(context.Background(), "block", nil) }()
	<-root.entered
	return client, root, first
}

// held counts the held calls queued for a credit.
func (c *Conn) held() int {
	c.credits.mu.Lock()
	defer c.credits.mu.Unlock()
	n := 0
	c.credits.waiting.each(func(e creditEntry) {
		if e.h != nil {
			n++
		}
	})
	return n
}

// nothingOwed fails t unless c has no question left in its table and
// holds none of the peer's credits.
func nothingOwed(t *testing.T, c *Conn) {
	t.Helper()
	if n := c.questions.len(); n != 0 {
		t.Fatalf("%d questions left in the table", n)
	}
	c.credits.mu.Lock()
	used, queued := c.credits.used, c.credits.waiting.len()
	c.credits.mu.Unlock()
	if used != 0 {
		t.Fatalf("%d credits still taken after every call ended (%d entries queued)", used, queued)
	}
}

// Calls past the peer's limit are held, encoded, and sent by the callers
// the answers wake: every one arrives as the same call would unheld, and
// its caller gets its answer.
func TestHeldCallsAreSentByTheAnswersCallers(t *testing.T) {
	client, root, first := heldPair(t)
	args := [][]any{
		{1, "one", heldRec{1, "a"}, &heldRec{2, "b"}, []byte("x"), 1.5, true, uint(7)},
		{-2, "", heldRec{}, (*heldRec)(nil), []byte(nil), 0.0, false, uint(0)},
		{1 << 40, "λ", heldRec{N: -1}, nil, []byte{}, -2.25, true, ^uint(0)},
	}
	want := make([]string, len(args))
	for i, a := range args {
		// What the handler makes of the same arguments sent unheld.
		var rec heldRec
		if a[2] != nil {
			rec = a[2].(heldRec)
		}
		var p *heldRec
		if hp, _ := a[3].(*heldRec); hp != nil {
			p = hp
		}
		b, _ := a[4].([]byte)
		want[i] = root.RemoteDescribe(a[0].(int), a[1].(string), rec, p, b, a[5].(float64), a[6].(bool), a[7].(uint))
	}
	got := make([]chan string, len(args))
	errs := make(chan error, len(args))
	for i, a := range args {
		got[i] = make(chan string, 1)
		go func() {
			var s string
			err := client.Root().Call(context.Background(), "describe", &s, a...)
			errs <- err
			got[i] <- s
		}()
		testutil.Eventually(t, "the call to be held", func() bool { return client.held() == i+1 })
	}
	// One call that needs a lane (a gob value) waits for its credit itself.
	gobDone := make(chan error, 1)
	go func() {
		var s string
		gobDone <- client.Root().Call(context.Background(), "describe", &s, 3, "gob", heldRec{}, nil, []byte("g"), 0.5, false, uint(1), map[string]int{"extra": 1})
	}()
	time.Sleep(20 * time.Millisecond)
	if n := client.held(); n != len(args) {
		t.Fatalf("%d calls held, want %d: a call with a gob argument is not held", n, len(args))
	}
	close(root.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := range args {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("held call: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a held call was never sent")
		}
		if s := <-got[i]; s != want[i] {
			t.Errorf("held call %d: handler saw %s, want %s", i, s, want[i])
		}
	}
	if err := <-gobDone; err == nil || !errors.Is(err, ErrBadArguments) {
		// describe takes 8 arguments: the ninth is refused by the server,
		// after the call waited for its credit and was sent.
		t.Fatalf("call with an extra gob argument = %v, want ErrBadArguments", err)
	}
	nothingOwed(t, client)
}

// An asynchronous call's answer wakes no caller of Call: the held call its
// credit passes to is sent all the same.
func TestHeldCallAfterAnAsyncAnswer(t *testing.T) {
	root := &heldRoot{entered: make(chan struct{}, 1), release: make(chan struct{})}
	_, client := connPairWith(t, root, nil, WithMaxHandlers(1))
	ctx := context.Background()
	call := client.Root().Go(ctx, "block", nil, nil)
	<-root.entered
	done := make(chan error, 1)
	go func() {
		var s string
		done <- client.Root().Call(ctx, "describe", &s, 1, "", heldRec{}, nil, []byte(nil), 0.0, false, uint(0))
	}()
	testutil.Eventually(t, "the call to be held", func() bool { return client.held() == 1 })
	close(root.release)
	if c := <-call.Done; c.Error != nil {
		t.Fatal(c.Error)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held call was never sent")
	}
}

// A held call whose context has ended when its credit comes (its deadline
// passed, or it was cancelled) is not sent, even when the watch on that
// context has not given it up yet: it fails with the context's error,
// leaves the table, and passes its credit on.
func TestHeldCallWithEndedContextIsNotSent(t *testing.T) {
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		ctx  context.Context
		want error
	}{{expired, context.DeadlineExceeded}, {cancelled, context.Canceled}} {
		_, client := connPairWith(t, &heldRoot{}, nil)
		q := getQuestion(new(string))
		id, err := client.questions.add(q, false, nil) // no watch: none has fired
		if err != nil {
			t.Fatal(err)
		}
		b, ok := client.heldArgs(nil, []any{1, "", heldRec{}, nil, []byte(nil), 0.0, false, uint(0)})
		if !ok {
			t.Fatal("the arguments cannot be held")
		}
		client.credits.mu.Lock()
		client.credits.used++ // the credit passed to the held call
		client.credits.mu.Unlock()
		client.sendHeld([]*heldCall{{ctx: tc.ctx, r: client.Root(), method: "describe", id: id, args: b}})
		client.credits.mu.Lock()
		queued := len(client.credits.sending)
		client.credits.mu.Unlock()
		if queued != 0 {
			t.Fatalf("%d held calls queued to be sent, with none held", queued)
		}
		select {
		case <-q.done:
		default:
			t.Fatalf("%v: the question was not completed", tc.want)
		}
		if !errors.Is(q.err, tc.want) {
			t.Fatalf("held call's error = %v, want %v", q.err, tc.want)
		}
		if got := client.Stats().CallsOut; got != 0 {
			t.Fatalf("%v: %d calls sent, want 0", tc.want, got)
		}
		nothingOwed(t, client)
	}
}

// A caller waiting for a credit whose context has ended when the credit
// comes gives it back and returns the context's error, whichever it sees
// first, so its call is never sent.
func TestCreditGrantedAfterContextEndedIsGivenBack(t *testing.T) {
	client, root, first := heldPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cr := &client.credits
	for i := range 100 {
		w := &creditWaiter{ready: make(chan struct{}, 1)}
		cr.mu.Lock()
		cr.used++ // a credit, passed to w below
		w.queued = true
		cr.waiting.push(creditEntry{w: w})
		cr.mu.Unlock()
		client.passCredit()
		if err := client.awaitCredit(ctx, w); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: awaitCredit = %v, want context.Canceled", i, err)
		}
		cr.mu.Lock()
		used := cr.used
		cr.mu.Unlock()
		if used != 1 {
			t.Fatalf("round %d: %d credits taken, want 1 (the first call's)", i, used)
		}
	}
	close(root.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	nothingOwed(t, client)
}

// A caller whose context ends as the connection's close fails its wait
// for a credit returns the context's error, and the waiter it gives back
// to the pool, shared by every connection, keeps no error for its next
// caller.
func TestCreditWaiterFailedByCloseIsPooledClean(t *testing.T) {
	_, client := connPairWith(t, &heldRoot{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	closed := errors.New("closed")
	for i := range 100 {
		w := &creditWaiter{ready: make(chan struct{}, 1), err: closed}
		w.ready <- struct{}{} // failed by the close, out of the queue
		if err := client.awaitCredit(ctx, w); err == nil {
			t.Fatalf("round %d: awaitCredit = nil, want an error", i)
		}
		if w.err != nil {
			t.Fatalf("round %d: the waiter went back to the pool holding %v", i, w.err)
		}
	}
}

// One batch of held calls goes out on one lane in one write: in it a call
// whose caller gave up is left out, one whose deadline passed fails with
// that error, and the others, before and after them, are answered; every
// credit passes on.
func TestHeldBatchSkipsAndFails(t *testing.T) {
	_, client := connPairWith(t, &heldRoot{}, nil)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var batch []*heldCall
	var qs []*question
	for i, ctx := range []context.Context{context.Background(), expired, context.Background(), context.Background()} {
		q := getQuestion(new(string))
		id, err := client.questions.add(q, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := client.heldArgs(nil, []any{i, "", heldRec{}, nil, []byte(nil), 0.0, false, uint(0)})
		if !ok {
			t.Fatal("the arguments cannot be held")
		}
		batch = append(batch, &heldCall{ctx: ctx, r: client.Root(), method: "describe", id: id, args: b})
		qs = append(qs, q)
	}
	if q, sent := client.questions.abandon(batch[2].id); q != qs[2] || sent {
		t.Fatalf("abandon = %p, %t; want the question, not sent", q, sent)
	}
	client.credits.mu.Lock()
	client.credits.used += len(batch) // the credits passed to the held calls
	client.credits.mu.Unlock()
	client.sendHeld(batch)
	for _, i := range []int{0, 3} {
		select {
		case <-qs[i].done:
		case <-time.After(10 * time.Second):
			t.Fatalf("held call %d was not answered", i)
		}
		want := fmt.Sprintf(`%d "" {N:0 Name:} <nil> "" 0 false 0`, i)
		if qs[i].err != nil || *qs[i].reply.(*string) != want {
			t.Fatalf("held call %d = %q, %v; want %q", i, *qs[i].reply.(*string), qs[i].err, want)
		}
	}
	select {
	case <-qs[1].done:
	default:
		t.Fatal("the expired held call was not completed")
	}
	if !errors.Is(qs[1].err, context.DeadlineExceeded) {
		t.Fatalf("expired held call's error = %v, want DeadlineExceeded", qs[1].err)
	}
	if got := client.Stats().CallsOut; got != 2 {
		t.Fatalf("%d calls sent, want 2", got)
	}
	nothingOwed(t, client)
}

// Arguments that need a lane are not held: references, gob values, and
// encodings over maxHeldArgs.
func TestHeldArgsRefusesWhatNeedsALane(t *testing.T) {
	_, client := connPairWith(t, &heldRoot{}, nil)
	for _, args := range [][]any{
		{client.Root()},
		{map[string]int{"a": 1}},
		{[]int{1}},
		{make([]byte, maxHeldArgs)},
		{new(any)},
	} {
		if _, ok := client.heldArgs(nil, args); ok {
			t.Errorf("heldArgs(%T) held", args[0])
		}
	}
}

func (r *heldRoot) RemoteSlowAdd(a, b int) int {
	time.Sleep(50 * time.Microsecond)
	return a + b
}

// Many callers past a small limit, some giving up while held, some while
// sent: every call gets its sum or its context's error, and afterwards no
// question and no credit is left over.
func TestHeldCallsGivenUpUnderLoad(t *testing.T) {
	_, client := connPairWith(t, &heldRoot{}, nil, WithMaxHandlers(2))
	const callers = 400
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			// A third of the calls must be answered (within a bound that
			// only a lost credit reaches); the others may give up.
			mustAnswer := i%3 == 0
			d := time.Duration(i%7) * 300 * time.Microsecond
			if mustAnswer {
				d = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			var n int
			err := client.Root().Call(ctx, "slowAdd", &n, i, 1)
			switch {
			case err == nil && n != i+1:
				err = fmt.Errorf("call %d: sum %d", i, n)
			case err != nil && (mustAnswer || !errors.Is(err, context.DeadlineExceeded)):
				err = fmt.Errorf("call %d: %w", i, err)
			default:
				err = nil
			}
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "the owed answers to arrive", func() bool { return client.questions.len() == 0 })
	nothingOwed(t, client)
	var n int
	if err := client.Root().Call(context.Background(), "slowAdd", &n, 2, 3); err != nil || n != 5 {
		t.Fatalf("a call after the load = %d, %v", n, err)
	}
}

// Many callers past a small limit share a few contexts, which the question
// table watches, and all but one of them end while the calls are held,
// carried in batches, or running: every call gets its sum or its context's
// error, the calls of the context that does not end are all answered, and
// afterwards no question and no credit is left over, nor a watch but the
// idle one of the context that did not end.
func TestWatchedCallsGivenUpUnderLoad(t *testing.T) {
	_, client := connPairWith(t, &heldRoot{}, nil, WithMaxHandlers(2))
	const callers, groups = 400, 4
	var ctxs [groups]context.Context
	for g := range groups {
		d := time.Duration(g+1) * 2 * time.Millisecond
		if g == 0 {
			d = 20 * time.Second // a bound only a lost credit reaches
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ctxs[g] = ctx
	}
	errs := make(chan error, callers)
	var given atomic.Int32
	for i := range callers {
		go func() {
			g := i % groups
			var n int
			err := client.Root().Call(ctxs[g], "slowAdd", &n, i, 1)
			switch {
			case err == nil && n != i+1:
				err = fmt.Errorf("call %d: sum %d", i, n)
			case err != nil && (g == 0 || !errors.Is(err, context.DeadlineExceeded)):
				err = fmt.Errorf("call %d: %w", i, err)
			case err != nil:
				given.Add(1)
				err = nil
			}
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if given.Load() == 0 {
		t.Fatal("no call gave up: the load did not outlast the contexts")
	}
	testutil.Eventually(t, "the owed answers to arrive", func() bool { return client.questions.len() == 0 })
	nothingOwed(t, client)
	// The contexts that ended took their watches with them; the one that
	// did not may keep one, idle.
	testutil.Eventually(t, "the ended contexts' watches to go", func() bool {
		client.questions.mu.Lock()
		defer client.questions.mu.Unlock()
		for _, w := range client.questions.ctxs.list {
			if w.n != 0 || w.ctx != ctxs[0] {
				return false
			}
		}
		return true
	})
}
