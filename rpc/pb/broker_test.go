package pb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// pbPair serves root over PB on loopback and dials it.
func pbPair(t *testing.T, root any, serverOpts []Option, clientOpts ...Option) (*Server, *Conn) {
	t.Helper()
	srv, port := serveGo(t, root, serverOpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

type brokerRoot struct {
	mu      sync.Mutex
	refs    []*rpc.Ref
	block   chan struct{}
	started chan struct{}
	oneway  chan string
	got     chan any
}

func (b *brokerRoot) RemoteTwice(x, y *rpc.Ref) bool {
	b.mu.Lock()
	b.refs = append(b.refs, x, y)
	b.mu.Unlock()
	return x == y
}

func (b *brokerRoot) RemoteReleaseAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.refs {
		r.Release()
	}
	b.refs = nil
}

func (b *brokerRoot) RemoteBlock(ctx context.Context) error {
	b.started <- struct{}{}
	select {
	case <-b.block:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *brokerRoot) RemoteNote(s string) { b.oneway <- s }

func (b *brokerRoot) RemoteTakeTwo(ctx context.Context, two *rpc.Ref) (int, error) {
	var n int
	err := two.Call(ctx, "double", &n, 21)
	return n, err
}

func (b *brokerRoot) RemoteGreet(name string, kw Kwargs) string {
	return fmt.Sprintf("%s %s", kw["greeting"], name) // bytes from a py2 peer
}

func (b *brokerRoot) RemoteKeep(v any) { b.got <- v }

func (b *brokerRoot) RemoteGetDoubler() *doubler { return &doubler{} }

func (b *brokerRoot) RemoteViaRef(ctx context.Context, r *rpc.Ref) (int, error) {
	var n int
	err := r.Call(ctx, "double", &n, 5)
	return n, err
}

type doubler struct {
	rpc.Referenceable
	_ byte // not zero-size: two doublers are two objects
}

func (d *doubler) RemoteDouble(n int) int { return 2 * n }

func newBrokerRoot() *brokerRoot {
	return &brokerRoot{block: make(chan struct{}), started: make(chan struct{}, 8), oneway: make(chan string, 1), got: make(chan any, 1)}
}

// Each transmission counts: an object sent twice in one call arrives as one
// *rpc.Ref, and releasing it sends two decrefs, which empty the sender's
// table.
func TestTransmissionsCounted(t *testing.T) {
	ctx := testContext(t)
	root := newBrokerRoot()
	_, c := pbPair(t, root, nil)
	d := &doubler{}
	var same bool
	if err := c.Root().Call(ctx, "twice", &same, d, d); err != nil || !same {
		t.Fatalf("twice = %v, %v; want one *rpc.Ref for both", same, err)
	}
	if n := c.Stats().Exports; n != 1 {
		t.Errorf("exports after sending: %d, want 1", n)
	}
	if err := c.Root().Call(ctx, "releaseAll", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the decrefs", func() bool { return c.Stats().Exports == 0 })
}

// A call on a reference, then the other side's objects: calls both ways
// over one connection, a handler's *rpc.Ref parameter receiving a PB
// reference.
func TestCallBack(t *testing.T) {
	ctx := testContext(t)
	_, c := pbPair(t, newBrokerRoot(), nil)
	var n int
	if err := c.Root().Call(ctx, "takeTwo", &n, &doubler{}); err != nil || n != 42 {
		t.Errorf("takeTwo = %d, %v; want 42", n, err)
	}
	var r *rpc.Ref
	if err := c.Root().Call(ctx, "getDoubler", &r); err != nil {
		t.Fatal(err)
	}
	if r.Conn() != nil || r.Remote() == nil {
		t.Errorf("a PB *rpc.Ref: Conn %v, Remote %v", r.Conn(), r.Remote())
	}
	if err := r.Call(ctx, "double", &n, 8); err != nil || n != 16 {
		t.Errorf("double = %d, %v", n, err)
	}
	// Sent home, it reaches the *rpc.Ref parameter bound to the object.
	if err := c.Root().Call(ctx, "viaRef", &n, r); err != nil || n != 10 {
		t.Errorf("viaRef = %d, %v", n, err)
	}
	call := <-r.Go(ctx, "double", &n, nil, 4).Done
	if call.Error != nil || n != 8 {
		t.Errorf("Go double = %d, %v", n, call.Error)
	}
}

func TestKwargsAndSnakeCase(t *testing.T) {
	ctx := testContext(t)
	_, c := pbPair(t, newBrokerRoot(), nil)
	var s string
	if err := c.Root().Call(ctx, "greet", &s, "Bob", Kwargs{"greeting": "hi"}); err != nil || s != "hi Bob" {
		t.Errorf("greet = %q, %v", s, err)
	}
	if err := c.Root().Call(ctx, "take_two", nil, &doubler{}); err != nil {
		t.Errorf("take_two: %v", err)
	}
	err := c.Root().Call(ctx, "twice", nil, &doubler{}, &doubler{}, Kwargs{"x": 1})
	if !errors.Is(err, rpc.ErrBadArguments) {
		t.Errorf("kwargs to a method without Kwargs: %v, want rpc.ErrBadArguments", err)
	}
}

func TestOneWay(t *testing.T) {
	ctx := testContext(t)
	root := newBrokerRoot()
	_, c := pbPair(t, root, nil)
	if err := c.Root().Send(ctx, "note", "hi"); err != nil {
		t.Fatal(err)
	}
	if s := <-root.oneway; s != "hi" {
		t.Errorf("note got %q", s)
	}
	if n := c.Stats().PendingCalls; n != 0 {
		t.Errorf("a one-way call waits for an answer: %d pending", n)
	}
}

// A caller that gives up returns at once; the late answer is dropped and
// the connection stays up.
func TestCancelDropsLateAnswer(t *testing.T) {
	root := newBrokerRoot()
	_, c := pbPair(t, root, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Root().Call(ctx, "block", nil) }()
	<-root.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	root.block <- struct{}{} // the handler answers now, too late
	var n int
	if err := c.Root().Call(testContext(t), "takeTwo", &n, &doubler{}); err != nil || n != 42 {
		t.Errorf("after the late answer: %d, %v", n, err)
	}
	testutil.Eventually(t, "the late answer", func() bool { return c.Stats().PendingCalls == 0 })
}

func TestConnectionLostFailsPending(t *testing.T) {
	root := newBrokerRoot()
	srv, c := pbPair(t, root, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Root().Call(testContext(t), "block", nil) }()
	<-root.started
	srv.Close()
	if err := <-errc; !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("pending call: %v, want rpc.ErrConnectionLost", err)
	}
	<-c.Done()
	if err := c.Root().Call(testContext(t), "note", nil, "x"); !errors.Is(err, rpc.ErrConnectionLost) {
		t.Errorf("call after loss: %v", err)
	}
}

func TestExportCap(t *testing.T) {
	ctx := testContext(t)
	_, c := pbPair(t, newBrokerRoot(), nil, WithMaxExports(2))
	if err := c.Root().Call(ctx, "twice", nil, &doubler{}, &doubler{}); err != nil {
		t.Fatal(err)
	}
	err := c.Root().Call(ctx, "twice", nil, &doubler{}, &doubler{})
	if !errors.Is(err, rpc.ErrTooManyReferences) {
		t.Errorf("a third export: %v, want rpc.ErrTooManyReferences", err)
	}
}

func TestOverloaded(t *testing.T) {
	root := newBrokerRoot()
	_, c := pbPair(t, root, []Option{WithMaxHandlers(1)})
	errc := make(chan error, 1)
	go func() { errc <- c.Root().Call(testContext(t), "block", nil) }()
	<-root.started
	err := c.Root().Call(testContext(t), "block", nil)
	if !errors.Is(err, rpc.ErrOverloaded) {
		t.Errorf("a second handler: %v, want rpc.ErrOverloaded", err)
	}
	root.block <- struct{}{}
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

// A Python 2 profile sends Go strings as bytes; both spellings arrive as a
// string parameter.
func TestPython2Strings(t *testing.T) {
	ctx := testContext(t)
	root := newBrokerRoot()
	_, c := pbPair(t, root, nil, WithPython2Strings(true))
	if err := c.Root().Call(ctx, "keep", nil, "abc"); err != nil {
		t.Fatal(err)
	}
	if v := <-root.got; string(asBytes(v)) != "abc" {
		t.Errorf("a py2 string arrived as %#v, want bytes", v)
	}
	var s string
	if err := c.Root().Call(ctx, "greet", &s, "Bob", Kwargs{"greeting": "hi"}); err != nil || s != "hi Bob" {
		t.Errorf("greet = %q, %v", s, err)
	}
}

// Malformed or out-of-turn input closes that one connection with a reason;
// the server goes on serving others.
func TestHostileInputClosesConnection(t *testing.T) {
	_, port := serveGo(t, newBrokerRoot())
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	version := []byte{0x02, 0x80, 0x13, 0x87, 0x06, 0x81}
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"invalid type byte", []byte{0x88}},
		{"a string, not a command", []byte{0x01, 0x82, 'x'}},
		{"unknown command", []byte{0x01, 0x80, 0x03, 0x82, 'b', 'a', 'd'}},
		{"decref of an unknown object", []byte{0x02, 0x80, 0x1d, 0x87, 0x05, 0x81}},
		{"answer nobody asked for", []byte{0x03, 0x80, 0x1b, 0x87, 0x07, 0x81, 0x01, 0x80, 0x01, 0x87}},
		{"wrong version", []byte{0x02, 0x80, 0x13, 0x87, 0x05, 0x81}},
		{"message with missing fields", []byte{0x02, 0x80, 0x1a, 0x87, 0x01, 0x81}},
		{"too many digits", make([]byte, 65)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			readN(t, nc, 12)
			nc.Write(append([]byte{0x02, 0x82, 'p', 'b'}, version...))
			readN(t, nc, 6) // the server's version
			nc.Write(tc.send)
			buf := make([]byte, 64)
			n, err := nc.Read(buf)
			if err != io.EOF && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Errorf("after %q the server sent % x, %v; want the connection closed", tc.name, buf[:n], err)
			}
		})
	}
	// Still serving.
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	if err := c.Root().Call(ctx, "takeTwo", &n, &doubler{}); err != nil || n != 42 {
		t.Errorf("after hostile peers: %d, %v", n, err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// Calls to objects or methods that are not there are failures, not fatal.
func TestMissingObjectAndMethod(t *testing.T) {
	ctx := testContext(t)
	_, c := pbPair(t, newBrokerRoot(), nil)
	err := c.Root().Call(ctx, "nosuch", nil)
	var pe *RemoteError
	if !errors.Is(err, rpc.ErrNoSuchMethod) || !errors.As(err, &pe) || pe.Type != pyNoSuchMethod || pe.Value != "No such method: remote_nosuch" {
		t.Errorf("nosuch: %v", err)
	}
	bogus := rpc.NewRemoteRef(&remoteRef{c: c, id: 99})
	if err := bogus.Call(ctx, "double", nil, 1); !errors.Is(err, rpc.ErrNoSuchObject) {
		t.Errorf("a message to object 99: %v, want rpc.ErrNoSuchObject", err)
	}
}

func asBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

func (b *brokerRoot) RemoteIsRoot(v any) bool { return v == any(b) }

// The peer's root sent back to it arrives as the root object
// (['local', 'root']).
func TestRootComesHome(t *testing.T) {
	ctx := testContext(t)
	_, c := pbPair(t, newBrokerRoot(), nil)
	var ok bool
	if err := c.Root().Call(ctx, "isRoot", &ok, c.Root()); err != nil || !ok {
		t.Errorf("isRoot(root) = %v, %v; want true", ok, err)
	}
}

// A peer that never chooses a dialect is closed after the handshake
// timeout, and holds one of WithMaxHandshakes slots meanwhile: the next
// peer is served once it goes.
func TestHandshakeTimeoutAndLimit(t *testing.T) {
	_, port := serveGo(t, newBrokerRoot(), WithHandshakeTimeout(200*time.Millisecond), WithMaxHandshakes(1))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetDeadline(time.Now().Add(30 * time.Second))
	readN(t, silent, 12) // the offer; then nothing is sent back
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", addr) // waits for the slot
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("the silent peer's connection is still open")
	}
	var n int
	if err := c.Root().Call(ctx, "takeTwo", &n, &doubler{}); err != nil || n != 42 {
		t.Errorf("the second peer: %d, %v", n, err)
	}
}

// Close does not wait for a peer stalled in its negotiation.
func TestCloseDuringHandshake(t *testing.T) {
	srv, port := serveGo(t, newBrokerRoot())
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	readN(t, nc, 12)
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second): // the handshake timeout is 30 s
		t.Fatal("Close waited for the stalled negotiation")
	}
}

// A Serial distributed.Service as the root runs PB calls one at a time in arrival
// order, as Twisted does: the broker looks each call up on the reading
// goroutine, in order.
func TestSerialServiceKeepsOrder(t *testing.T) {
	svc := distributed.NewService("serial", distributed.WithRunStyle(distributed.Serial))
	var mu sync.Mutex
	var got []int
	if err := svc.Map("note", func(n int) {
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Map("notes", func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), got...)
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	_, c := pbPair(t, svc, nil)
	for i := range 50 {
		if err := c.Root().Send(ctx, "note", i); err != nil {
			t.Fatal(err)
		}
	}
	var notes []int
	if err := c.Root().Call(ctx, "notes", &notes); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 50 {
		t.Fatalf("notes ran before %d of 50 one-way calls", len(notes))
	}
	for i, n := range notes {
		if n != i {
			t.Fatalf("calls ran out of order: %v", notes)
		}
	}
}

// Close writes what is queued first: a one-way call sent just before Close
// reaches the peer.
func TestCloseFlushesQueuedCommands(t *testing.T) {
	root := newBrokerRoot()
	_, c := pbPair(t, root, nil)
	if err := c.Root().Send(testContext(t), "note", "last words"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case s := <-root.oneway:
		if s != "last words" {
			t.Errorf("note got %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call sent before Close never arrived")
	}
}

// The dialling side's negotiation ends with its context: a cancelled one
// makes the error match context.Canceled.
func TestNegotiationHonoursItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a server that accepts and never offers a dialect
		if nc, err := ln.Accept(); err == nil {
			defer nc.Close()
			io.Copy(io.Discard, nc)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := NewConn(ctx, nc); !errors.Is(err, context.Canceled) {
		t.Fatalf("NewConn with a cancelled context: %v, want an error matching context.Canceled", err)
	}
}

// TestScalarCall checks that a call of scalar arguments goes on the wire
// exactly as through jellyCall, in both string modes and both dialects, and
// that a call with anything else is left to jellyCall.
func TestScalarCall(t *testing.T) {
	for _, py2 := range []bool{false, true} {
		for _, vocab := range []bool{false, true} {
			o, err := newOptions([]Option{WithPython2Strings(py2)})
			if err != nil {
				t.Fatal(err)
			}
			a, b := net.Pipe()
			defer b.Close()
			c := newConn(a, o, nil, false)
			c.vocab = vocab
			defer c.shutdown(errClosed)
			ctx := context.Background()
			r := &remoteRef{c: c, id: 5}
			for _, args := range [][]any{nil, {1, 2}, {"s", "tuple", []byte("b"), nil, true, false, 2.5, int64(-7), 1 << 40}} {
				if !c.scalarCall(args, nil) {
					t.Errorf("scalarCall(%v) is false", args)
					continue
				}
				if err := c.sendMessage(ctx, 1, r, "m", 1, callArgs{scalars: args}); err != nil {
					t.Fatal(err)
				}
				got := c.wq
				c.wq = nil
				as, kw, err := c.jellyCall(args, nil, &hooks{c: c})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.sendMessage(ctx, 1, r, "m", 1, callArgs{args: as, kw: kw}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, c.wq) {
					t.Errorf("py2 %v, vocab %v: %v goes out as %x, want %x", py2, vocab, args, got, c.wq)
				}
				c.wq = nil
			}
			others := [][]any{{[]int{1}}, {struct{}{}}, {1, big.NewInt(1)}}
			if !py2 {
				others = append(others, []any{"\xff"}) // bytes, not a str
			}
			for _, args := range others {
				if c.scalarCall(args, nil) {
					t.Errorf("scalarCall(%v) is true", args)
				}
			}
			if c.scalarCall([]any{1}, Kwargs{"k": 1}) {
				t.Error("a call with keyword arguments is a scalar call")
			}
		}
	}
}
