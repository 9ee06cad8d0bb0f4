package rpc_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

// A violation of the rpc protocol (part 2 of docs/PROTOCOL.md) reaches the
// peer as one GOAWAY with the code PROTOCOL_ERROR and the reason.
func TestRPCViolationIsProtocolError(t *testing.T) {
	var log testutil.LogBuf
	_, addr := secServe(t, &secRoot{}, rpc.WithLogger(log.Logger()))
	p := dialRaw(t, addr, nil)
	st, err := p.lane(testutil.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Write(msg(9)) // unknown message type
	select {
	case <-p.sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept the connection")
	}
	var ge *transport.GoAwayError
	if err := p.sess.Err(); !errors.As(err, &ge) {
		t.Fatalf("session ended with %v, want a GOAWAY from the server", err)
	}
	if ge.Code != transport.GoAwayProtocolError {
		t.Fatalf("GOAWAY %v %q, want %v", ge.Code, ge.Reason, transport.GoAwayProtocolError)
	}
	if ge.Reason != "rpc: protocol violation: unknown message type 9" {
		t.Fatalf("GOAWAY reason %q", ge.Reason)
	}
}

// A peer may open at most the receiver's WithMaxLanes lanes: the limit is
// announced as the transport's max streams, streams past it are refused, and
// a peer that keeps opening them commits a violation.
func TestReceiveLaneLimit(t *testing.T) {
	_, addr := secServe(t, &secRoot{}, rpc.WithMaxLanes(8))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	out := clientPreface()
	for i := range 1000 {
		out = append(out, frameHeader(0, 1, uint32(2*i+1), 1)...)
		out = append(out, 'L')
	}
	go nc.Write(out)
	br := bufio.NewReader(nc)
	var pre [24]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(pre[20:]); got != 8 {
		t.Errorf("the server announces max streams %d, want 8 (its lane limit)", got)
	}
	refused := map[uint32]bool{}
	for {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var h [10]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("no GOAWAY from the server (%d lanes refused): %v", len(refused), err)
		}
		body := make([]byte, binary.BigEndian.Uint32(h[6:]))
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		id := binary.BigEndian.Uint32(h[2:])
		if h[0] == 0 && h[1]&4 != 0 {
			if code := binary.BigEndian.Uint32(body); code != uint32(transport.ResetRefused) {
				t.Fatalf("stream %d reset with code %d, want REFUSED", id, code)
			}
			refused[id] = true
		}
		if h[0] == 3 {
			if code := binary.BigEndian.Uint32(body[4:]); code != uint32(transport.GoAwayProtocolError) {
				t.Fatalf("GOAWAY code %d %q, want PROTOCOL_ERROR", code, body[8:])
			}
			break
		}
	}
	for i := range 8 {
		if refused[uint32(2*i+1)] {
			t.Errorf("lane %d (within the limit) was refused", 2*i+1)
		}
	}
	if len(refused) != 16 {
		t.Errorf("%d lanes refused before the violation, want 16", len(refused))
	}

	// A well-behaved peer with more lanes of its own uses the server's 8.
	conn, err := rpc.Dial(testutil.Context(t), "tcp", addr, rpc.WithMaxLanes(64))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- conn.Root().Call(testutil.Context(t), "sleep", nil, 20)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// holdRoot's hold signals started and returns once release is closed.
type holdRoot struct{ started, release chan struct{} }

func (h *holdRoot) RemoteHold() string {
	h.started <- struct{}{}
	<-h.release
	return "held"
}

// Server.Shutdown with a call in flight lets the handler finish and its
// answer reach the caller, and returns without hitting its deadline. A call
// that reaches the server after Shutdown began may be refused with
// ErrShutdown, never lost.
func TestShutdownWithCallInFlight(t *testing.T) {
	for run := range 20 {
		root := &holdRoot{started: make(chan struct{}, 1), release: make(chan struct{})}
		srv, conn := pair(t, root, nil)
		ctx := testutil.Context(t)
		done := make(chan error, 1)
		go func() {
			var s string
			err := conn.Root().Call(ctx, "hold", &s)
			if err == nil && s != "held" {
				err = errors.New("wrong answer " + s)
			}
			done <- err
		}()
		go func() {
			time.Sleep(20 * time.Millisecond)
			close(root.release)
		}()
		if run%2 == 0 {
			<-root.started // the handler runs when Shutdown begins
		} else {
			// The call may still be on its way when Shutdown begins.
			testutil.Eventually(t, "the call to leave", func() bool { return conn.Stats().PendingCalls == 1 || len(done) > 0 })
		}
		sctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		err := srv.Shutdown(sctx)
		cancel()
		if err != nil {
			t.Fatalf("run %d: Shutdown: %v", run, err)
		}
		err = <-done
		if run%2 == 0 && err != nil || err != nil && !errors.Is(err, rpc.ErrShutdown) {
			t.Fatalf("run %d: call in flight during Shutdown: %v", run, err)
		}
	}
}

// echoRoot's echo returns its argument.
type echoRoot struct{}

func (echoRoot) RemoteEcho(b []byte) []byte { return b }

// A peer that sends many large calls and never grants credit for the answers
// (it reads the socket and answers PINGs: the transport does) pins at most
// the answer budget: the calls past it wait in the peer's flow control, not
// in handlers. A well-behaved caller past the budget is only slowed.
func TestAnswerBudgetBoundsMemory(t *testing.T) {
	const budget = 16 << 20
	srv, addr := secServe(t, echoRoot{}, rpc.WithMaxLanes(16), rpc.WithMaxMessageSize(2<<20), rpc.WithAnswerBudget(budget))
	p := dialRaw(t, addr, nil)
	ctx := testutil.Context(t)
	payload := make([]byte, 1<<20)
	arg := append([]byte{5, 6}, binary.AppendUvarint(nil, uint64(len(payload)))...)
	head := func(id uint64) []byte {
		body := [][]byte{{0}, uv(id), uv(0), str("echo"), uv(1), arg}
		m := msg(1, body...)
		binary.BigEndian.PutUint32(m, binary.BigEndian.Uint32(m)+uint32(len(payload)))
		return m
	}
	// The peer's transport grants credit only for what is read: nothing
	// reads the server's lanes, so no WINDOW_UPDATE goes back.
	p.sess.Close()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := transport.Client(ctx, nc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for lane := range 16 {
		st, err := sess.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			st.Write([]byte{'L'})
			for i := range 16 {
				id := uint64(lane*16 + i + 1)
				if _, err := st.Write(head(id)); err != nil {
					return
				}
				if _, err := st.Write(payload); err != nil {
					return
				}
			}
		}()
	}
	var sc *rpc.Conn
	testutil.Eventually(t, "the server's connection", func() bool {
		for _, c := range srv.Conns() {
			if c.Stats().Handlers > 0 {
				sc = c
			}
		}
		return sc != nil
	})
	time.Sleep(time.Second) // let whatever would pile up pile up
	running := sc.Stats().Handlers
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d handlers blocked, heap +%d MiB", running, grown>>20)
	if max := budget / (1 << 20); running > max {
		t.Errorf("%d handlers hold their calls, want at most %d (the budget)", running, max)
	}
	// The budget, plus per lane the server's window of unread input and of
	// queued answer, a parse buffer, and the same two windows on the peer's
	// side, in this process too.
	if limit := int64(budget + 16*(4*transport.DefaultInitialWindow+256<<10)); grown > limit {
		t.Errorf("heap grew by %d MiB, over the %d MiB the budget allows", grown>>20, limit>>20)
	}
	sess.Close()

	// A caller that reads its answers gets every one, past the budget too.
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 48)
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []byte
			err := conn.Root().Call(ctx, "echo", &got, payload)
			if err == nil && len(got) != len(payload) {
				err = errors.New("short answer")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// budgetRoot's echo returns its argument, and fail fails.
type budgetRoot struct{ oneWays atomic.Int32 }

func (*budgetRoot) RemoteEcho(b []byte) []byte      { return b }
func (*budgetRoot) RemoteFail(b []byte) error       { return errors.New("refused") }
func (r *budgetRoot) RemoteDrop(b []byte)           { r.oneWays.Add(1) }
func (r *budgetRoot) RemoteDropFail(b []byte) error { r.oneWays.Add(1); return errors.New("refused") }

// Every way a call ends gives its charge back to the answer budget: a reply,
// a handler's error, a refusal before any handler (no such method, wrong
// arguments), and one-way calls run or dropped. Calls whose charges add up
// to many times the budget, made one after another, all complete; a charge
// kept would stall them once the budget is spent.
func TestAnswerBudgetReturnsEveryCharge(t *testing.T) {
	const budget = 1 << 20
	root := &budgetRoot{}
	_, addr := secServe(t, root, rpc.WithMaxMessageSize(budget/2), rpc.WithAnswerBudget(budget))
	ctx := testutil.Context(t)
	conn, err := rpc.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, budget/8)
	oneWays := int32(0)
	for i := range 64 { // 64 rounds of 6 calls of 128 KiB: 48 budgets' worth
		var got []byte
		if err := conn.Root().Call(ctx, "echo", &got, payload); err != nil || len(got) != len(payload) {
			t.Fatalf("round %d: echo = %d bytes, %v", i, len(got), err)
		}
		if err := conn.Root().Call(ctx, "fail", nil, payload); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("round %d: fail = %v, want its error", i, err)
		}
		if err := conn.Root().Call(ctx, "missing", nil, payload); !errors.Is(err, rpc.ErrNoSuchMethod) {
			t.Fatalf("round %d: missing = %v, want ErrNoSuchMethod", i, err)
		}
		if err := conn.Root().Call(ctx, "echo", nil, payload, payload); !errors.Is(err, rpc.ErrBadArguments) {
			t.Fatalf("round %d: echo with 2 arguments = %v, want ErrBadArguments", i, err)
		}
		for _, m := range []string{"drop", "dropFail", "missing"} {
			if err := conn.Root().Send(ctx, m, payload); err != nil {
				t.Fatalf("round %d: send %s: %v", i, m, err)
			}
		}
		oneWays += 2
	}
	testutil.Eventually(t, "every one-way call to run", func() bool { return root.oneWays.Load() == oneWays })
	var got []byte
	if err := conn.Root().Call(ctx, "echo", &got, payload); err != nil {
		t.Fatalf("echo after the rounds: %v", err)
	}
}

// takeBlockRoot's take counts its calls and waits for release.
type takeBlockRoot struct {
	calls   atomic.Int32
	release chan struct{}
}

func (b *takeBlockRoot) RemoteTake(p []byte) {
	b.calls.Add(1)
	<-b.release
}

// One-way calls count in the answer budget until their handler returns.
func TestAnswerBudgetCountsOneWayCalls(t *testing.T) {
	const budget = 8 << 20
	root := &takeBlockRoot{release: make(chan struct{})}
	_, addr := secServe(t, root, rpc.WithMaxMessageSize(1<<20+64), rpc.WithAnswerBudget(budget))
	p := dialRaw(t, addr, nil)
	ctx := testutil.Context(t)
	payload := make([]byte, 1<<20)
	arg := append([]byte{5, 6}, binary.AppendUvarint(nil, uint64(len(payload)))...)
	m := msg(1, []byte{1}, uv(0), uv(0), str("take"), uv(1), arg)
	binary.BigEndian.PutUint32(m, binary.BigEndian.Uint32(m)+uint32(len(payload)))
	for range 4 {
		st, err := p.lane(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 8 {
				if _, err := st.Write(m); err != nil {
					return
				}
				if _, err := st.Write(payload); err != nil {
					return
				}
			}
		}()
	}
	testutil.Eventually(t, "handlers to start", func() bool { return root.calls.Load() >= 7 })
	time.Sleep(500 * time.Millisecond) // let whatever would pile up pile up
	if n := root.calls.Load(); n > 7 {
		t.Errorf("%d one-way handlers hold their calls, want at most 7 (the budget)", n)
	}
	close(root.release)
	testutil.Eventually(t, "every call to run", func() bool { return root.calls.Load() == 32 })
}

// Senders that wait for a lane and give up lose none: with one lane each
// way, small calls with short deadlines wait behind large answers (on the
// server, the answers wait for its one lane; on the client, the calls wait
// for its own), many give up, and afterwards calls from many goroutines at
// once all go through.
func TestLaneWaitersGiveUp(t *testing.T) {
	_, addr := secServe(t, &secRoot{}, rpc.WithMaxLanes(1))
	conn, err := rpc.Dial(testutil.Context(t), "tcp", addr, rpc.WithMaxLanes(1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root := conn.Root()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b []byte
			if err := root.Call(testutil.Context(t), "blob", &b, 4<<20); err != nil || len(b) != 4<<20 {
				t.Errorf("blob: %d bytes, %v", len(b), err)
			}
		}()
	}
	var gaveUp, answered atomic.Int32
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(testutil.Context(t), time.Duration(i%5)*100*time.Microsecond)
			defer cancel()
			var n int
			switch err := root.Call(ctx, "echo", &n, i); {
			case err == nil && n == i:
				answered.Add(1)
			case errors.Is(err, context.DeadlineExceeded):
				gaveUp.Add(1)
			default:
				t.Errorf("echo %d: %d, %v", i, n, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls gave up, %d were answered", gaveUp.Load(), answered.Load())
	if gaveUp.Load() == 0 {
		t.Error("no call gave up: the test did not make senders wait")
	}
	errs := make(chan error, 100)
	for i := range 100 {
		go func() {
			var n int
			err := root.Call(testutil.Context(t), "echo", &n, i)
			if err == nil && n != i {
				err = fmt.Errorf("echo %d answered %d", i, n)
			}
			errs <- err
		}()
	}
	for range 100 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
