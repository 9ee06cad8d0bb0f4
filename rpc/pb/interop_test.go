package pb

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/pyproc"
	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// twistedPython returns a Python 3 that imports Twisted (see
// pyproc.Twisted: a skip, or a failure with FIREFLY_REQUIRE_TWISTED=1).
func twistedPython(t testing.TB) string { return pyproc.Twisted(t) }

// pyProc is a Python script running for a test.
type pyProc = pyproc.Proc

// startPython runs script (a file in testdata, or source text when src is
// set) with args, killing it when the test ends.
func startPython(t testing.TB, py, script, src string, args ...string) *pyProc {
	t.Helper()
	path := filepath.Join("testdata", script)
	if src != "" {
		path = filepath.Join(t.TempDir(), script)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return pyproc.Start(t, py, path, args...)
}

// docsScript returns a Twisted docs script from testdata with its fixed
// port 8800 replaced by port, so tests never collide on 8800.
func docsScript(t *testing.T, name string, port int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "8800") != 1 {
		t.Fatalf("%s should name port 8800 once", name)
	}
	return strings.Replace(string(b), "8800", strconv.Itoa(port), 1)
}

// serveGo serves root on a loopback port for the test's lifetime.
func serveGo(t *testing.T, root any, opts ...Option) (*Server, int) {
	t.Helper()
	srv, err := NewServer(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return srv, ln.Addr().(*net.TCPAddr).Port
}

// The seed's One in Go serves Twisted's own pb3client.py.
func TestTwistedSeedClient(t *testing.T) {
	py := twistedPython(t)
	one := &seedOne{out: make(chan string, 1)}
	_, port := serveGo(t, one)
	p := startPython(t, py, "pb3client.py", docsScript(t, "pb3client.py", port))
	p.WaitFor(t, "Two.print() called with 12", func(l string) bool { return l == "Two.print() called with 12" })
	out := p.Output()
	if len(out) < 3 || !strings.HasPrefix(out[0], "got One: <twisted.spread.pb.RemoteReference object at ") ||
		out[1] != "giving it our two" {
		t.Errorf("pb3client.py printed %q", out)
	}
	if s := <-one.out; s != "received a Two called pb.Ref(1)" {
		t.Errorf("One printed %q", s)
	}
}

// The seed's Two in Go, through Dial, calls Twisted's own pb3server.py.
func TestTwistedSeedServer(t *testing.T) {
	py := twistedPython(t)
	port := testutil.FreePorts(t, 1)[0]
	p := startPython(t, py, "pb3server.py", docsScript(t, "pb3server.py", port))
	c := dialRetry(t, port)
	two := &seedTwo{got: make(chan int, 1)}
	if err := c.Root().Call(testContext(t), "takeTwo", nil, two); err != nil {
		t.Fatalf("takeTwo: %v", err)
	}
	select {
	case arg := <-two.got:
		if arg != 12 {
			t.Errorf("print(%d), want 12", arg)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("pb3server.py never called print")
	}
	p.WaitFor(t, "the server's lines", func(l string) bool { return l == "telling it to print(12)" })
	out := p.Output()
	if len(out) != 2 || !strings.HasPrefix(out[0], "received a Two called <twisted.spread.pb.RemoteReference object at ") {
		t.Errorf("pb3server.py printed %q", out)
	}
}

// dialRetry dials a Python server that may still be starting.
func dialRetry(t *testing.T, port int, opts ...Option) *Conn {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := Dial(ctx, "tcp", addr, opts...)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoRoot is the Go server echo_client.py checks.
type echoRoot struct {
	srv     atomic.Pointer[Server]
	greeter *greeter
	oneway  chan int64
}

type greeter struct {
	rpc.Referenceable
	_ byte // not zero-size: two values are two objects
}

func (g *greeter) RemoteHello(name string) string { return "hello " + name }

func (e *echoRoot) RemoteEcho(kw Kwargs, args ...any) Tuple {
	return Tuple{Tuple(args), kw}
}

func (e *echoRoot) RemoteAdd(a, b int) int { return a + b }

func (e *echoRoot) RemoteGreet(name string, kw Kwargs) string {
	greeting := "hello"
	if g, ok := kw["greeting"].(string); ok {
		greeting = g
	}
	return greeting + " " + name
}

func (e *echoRoot) RemoteBig(n *big.Int) *big.Int { return new(big.Int).Lsh(n, 1) }

func (e *echoRoot) RemoteFail() error { return errors.New("boom") }

func (e *echoRoot) RemoteExpected() error { return rpc.Expected(errors.New("not today")) }

func (e *echoRoot) RemoteGetRef() *greeter { return e.greeter }

func (e *echoRoot) RemoteIsMine(g *greeter) bool { return g == e.greeter }

func (e *echoRoot) RemoteRefHome(ctx context.Context, r *rpc.Ref) (string, error) {
	var s string
	err := r.Call(ctx, "hello", &s, "home")
	return s, err
}

func (e *echoRoot) RemoteExports() int {
	n := 0
	for _, c := range e.srv.Load().Conns() {
		n += c.Stats().Exports
	}
	return n
}

func (e *echoRoot) RemoteCallMeBack(ctx context.Context, r *rpc.Ref) (string, error) {
	var s string
	err := r.Call(ctx, "ping", &s, 7, Kwargs{"tag": "x"})
	return s, err
}

func (e *echoRoot) RemoteOneway(n int64) { e.oneway <- n }

func (e *echoRoot) RemoteLastOneway(ctx context.Context) (int64, error) {
	select {
	case n := <-e.oneway:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(30 * time.Second):
		return 0, errors.New("the one-way call never ran")
	}
}

func (e *echoRoot) RemoteGetPoint() testPoint { return testPoint{X: 1, Y: 2.5} }

func (e *echoRoot) RemoteSumPoint(p testPoint) float64 { return float64(p.X) + p.Y }

// testPoint is the Copyable echo_client.py and echo_server.py register as
// firefly.test.Point.
type testPoint struct {
	X int64   `pb:"x"`
	Y float64 `pb:"y"`
}

func (testPoint) CopyableClass() string { return "firefly.test.Point" }

// A Twisted client round-trips every jelly type through a Go server, and
// checks failures, references both ways, Copyables and one-way calls.
func TestTwistedClientAgainstGoServer(t *testing.T) {
	py := twistedPython(t)
	root := &echoRoot{greeter: &greeter{}, oneway: make(chan int64, 1)}
	srv, port := serveGo(t, root)
	root.srv.Store(srv)
	p := startPython(t, py, "echo_client.py", "", strconv.Itoa(port))
	err := p.Wait(t)
	for _, l := range p.Output() {
		if strings.HasPrefix(l, "FAIL") {
			t.Error(l)
		}
	}
	if err != nil {
		t.Errorf("echo_client.py: %v", err)
	}
	if !t.Failed() && !strings.Contains(strings.Join(p.Output(), "\n"), "done PASSED") {
		t.Errorf("echo_client.py did not finish: %q", p.Output())
	}
}

// pinger is the Go object echo_server.py calls back.
type pinger struct {
	rpc.Referenceable
	_ byte // not zero-size: two values are two objects
}

func (p *pinger) RemotePing(n int, kw Kwargs) string { return fmt.Sprintf("pong %d %v", n, kw["tag"]) }

// The Go client against a Twisted server: every jelly type round trip,
// failures, references both ways, Copyables and one-way calls.
func TestGoClientAgainstTwistedServer(t *testing.T) {
	py := twistedPython(t)
	port := testutil.FreePorts(t, 1)[0]
	startPython(t, py, "echo_server.py", "", strconv.Itoa(port))
	c := dialRetry(t, port)
	ctx := testContext(t)
	root := c.Root()

	// Every Go value kind the package sends, back as the Python model.
	big64 := new(big.Int).Lsh(big.NewInt(1), 64)
	args := []any{int64(0), 127, int64(1) << 40, big64, 1.5, []byte("bytes"), "unicodé", []byte("list"),
		[]any{int64(1), int64(2)}, Tuple{int64(1), int64(2)}, nil, true, false,
		Set{int64(3)}, FrozenSet{int64(4)}, &Dict{Items: []DictItem{{Tuple{int64(1), int64(2)}, "tuple key"}}},
		[]string{"a", "b"}, map[string]int{"k": 1}}
	var got Tuple
	if err := root.Call(ctx, "echo", &got, append(args, Kwargs{"name": "Bob"})...); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("echo returned %#v", got)
	}
	back, _ := got[0].(Tuple)
	want := []any{int64(0), int64(127), int64(1) << 40, big64, 1.5, []byte("bytes"), "unicodé", []byte("list"),
		[]any{int64(1), int64(2)}, Tuple{int64(1), int64(2)}, nil, true, false,
		Set{int64(3)}, FrozenSet{int64(4)}, &Dict{Items: []DictItem{{Tuple{int64(1), int64(2)}, "tuple key"}}},
		[]any{"a", "b"}, &Dict{Items: []DictItem{{"k", int64(1)}}}}
	if len(back) != len(want) {
		t.Fatalf("echo args: %d values, want %d: %#v", len(back), len(want), back)
	}
	for i := range want {
		if !modelEqual(back[i], want[i]) {
			t.Errorf("echo arg %d: got %#v, want %#v", i, back[i], want[i])
		}
	}
	if kw, _ := got[1].(*Dict); !modelEqual(kw, &Dict{Items: []DictItem{{"name", "Bob"}}}) {
		t.Errorf("echo kwargs: got %#v", got[1])
	}
	var types []string
	if err := root.Call(ctx, "types", &types, "s", []byte("b"), 1, 2.0, Tuple{}, []int{}); err != nil {
		t.Fatal(err)
	}
	if w := []string{"str", "bytes", "int", "float", "tuple", "list"}; fmt.Sprint(types) != fmt.Sprint(w) {
		t.Errorf("Python saw types %v, want %v", types, w)
	}

	// Failures.
	err := root.Call(ctx, "fail", nil)
	var pe *RemoteError
	var re *rpc.RemoteError
	if !errors.As(err, &pe) || pe.Type != "builtins.ValueError" || pe.Value != "boom" || pe.Check("builtins.Exception") == "" {
		t.Errorf("fail: %#v, want a builtins.ValueError boom", err)
	}
	if !errors.As(err, &re) || re.Type != "builtins.ValueError" || re.Expected {
		t.Errorf("fail: the *rpc.RemoteError is %#v", re)
	}
	if err := root.Call(ctx, "expected", nil); !rpc.IsExpected(err) {
		t.Errorf("expected: %v is not rpc.IsExpected", err)
	}
	if err := root.Call(ctx, "nosuch", nil); !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Errorf("nosuch: %v, want rpc.ErrNoSuchMethod", err)
	}
	if err := root.Call(ctx, "echoRef", nil); !errors.Is(err, rpc.ErrBadArguments) {
		t.Errorf("echoRef(): %v, want rpc.ErrBadArguments (a TypeError)", err)
	}

	// A Python object by reference, and coming home.
	var g *rpc.Ref
	if err := root.Call(ctx, "getRef", &g); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := g.Call(ctx, "hello", &s, "world"); err != nil || s != "hello world" {
		t.Errorf("hello: %q, %v", s, err)
	}
	var mine bool
	if err := root.Call(ctx, "isGreeter", &mine, g); err != nil || !mine {
		t.Errorf("isGreeter(ref) = %v, %v; want the reference to go home as the object", mine, err)
	}
	var same *rpc.Ref
	if err := root.Call(ctx, "getRef", &same); err != nil || same != g {
		t.Errorf("getRef again: %v, %v; want the same *rpc.Ref", same, err)
	}
	var n int
	if err := root.Call(ctx, "refcount", &n); err != nil || n != 1 {
		t.Errorf("refcount before release: %d, %v; want 1", n, err)
	}
	g.Release() // two transmissions: two decrefs, sent before the next call
	if err := root.Call(ctx, "refcount", &n); err != nil || n != 0 {
		t.Errorf("refcount after release: %d, %v; want 0", n, err)
	}
	if err := g.Call(ctx, "hello", &s, "again"); !errors.Is(err, rpc.ErrReleased) {
		t.Errorf("call after Release: %v, want rpc.ErrReleased", err)
	}

	// A Go object by reference: Python calls it back with kwargs, and it
	// comes home as itself.
	p := &pinger{}
	if err := root.Call(ctx, "callMe", &s, p); err != nil || s != "pong 7 x" {
		t.Errorf("callMe: %q, %v", s, err)
	}
	var home *pinger
	if err := root.Call(ctx, "echoRef", &home, p); err != nil || home != p {
		t.Errorf("echoRef: %p, %v; want %p", home, err, p)
	}

	// Copyables both ways.
	var pt testPoint
	if err := root.Call(ctx, "getPoint", &pt); err != nil || pt != (testPoint{1, 2.5}) {
		t.Errorf("getPoint: %+v, %v", pt, err)
	}
	var sum float64
	if err := root.Call(ctx, "sumPoint", &sum, testPoint{3, 0.5}); err != nil || sum != 3.5 {
		t.Errorf("sumPoint: %v, %v", sum, err)
	}

	// A Cacheable arrives as a plain copy; its decaches stop the owner
	// observing.
	var counter any
	for range 2 {
		if err := root.Call(ctx, "getCounter", &counter); err != nil {
			t.Fatalf("getCounter: %v", err)
		}
		if in, ok := counter.(*Instance); !ok || in.Class != "__main__.Counter" {
			t.Errorf("getCounter: %#v, want an Instance of __main__.Counter", counter)
		}
	}
	var stopped int
	if err := root.Call(ctx, "stoppedObserving", &stopped); err != nil || stopped != 2 {
		t.Errorf("stoppedObserving: %d, %v; want 2 (each copy given back by its decache)", stopped, err)
	}

	// One-way calls.
	if err := root.Send(ctx, "oneway", 42); err != nil {
		t.Fatal(err)
	}
	var last int
	if err := root.Call(ctx, "lastOneway", &last); err != nil || last != 42 {
		t.Errorf("lastOneway: %d, %v; want 42 (Twisted runs calls in order)", last, err)
	}
	if st := c.Stats(); st.PendingCalls != 0 {
		t.Errorf("pending calls after the one-way call: %d", st.PendingCalls)
	}
}

// modelEqual compares Python model values (values.go), *Dict by items.
func modelEqual(a, b any) bool {
	switch a := a.(type) {
	case *big.Int:
		bb, ok := b.(*big.Int)
		return ok && a.Cmp(bb) == 0
	case []byte:
		bb, ok := b.([]byte)
		return ok && string(a) == string(bb)
	case []any:
		bb, ok := b.([]any)
		return ok && modelSeqEqual(a, bb)
	case Tuple:
		bb, ok := b.(Tuple)
		return ok && modelSeqEqual(a, bb)
	case Set:
		bb, ok := b.(Set)
		return ok && modelSeqEqual(a, bb)
	case FrozenSet:
		bb, ok := b.(FrozenSet)
		return ok && modelSeqEqual(a, bb)
	case *Dict:
		bb, ok := b.(*Dict)
		if !ok || len(a.Items) != len(bb.Items) {
			return false
		}
		for i := range a.Items {
			if !modelEqual(a.Items[i].Key, bb.Items[i].Key) || !modelEqual(a.Items[i].Value, bb.Items[i].Value) {
				return false
			}
		}
		return true
	}
	return a == b
}

func modelSeqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !modelEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// The lean load client of BenchmarkTwistedClients gets every answer right
// from both servers: it exits non-zero on an answer it did not expect.
func TestBenchWireClient(t *testing.T) {
	py := twistedPython(t)
	_, goPort := serveGo(t, benchRoot{})
	tw := startPython(t, py, "bench_server.py", "", "0")
	line := tw.WaitFor(t, "the server to listen", func(l string) bool { return strings.HasPrefix(l, "listening ") })
	twPort := strings.TrimPrefix(line, "listening ")
	for name, port := range map[string]string{"go": strconv.Itoa(goPort), "twisted": twPort} {
		p := startPython(t, py, "bench_wire_client.py", "", port, "8", "0.2")
		if err := p.Wait(t); err != nil {
			t.Errorf("%s server: bench_wire_client.py: %v: %q", name, err, p.Output())
			continue
		}
		out := strings.Join(p.Output(), "\n")
		f := strings.Fields(out)
		if len(f) != 3 || f[0] != "calls" {
			t.Errorf("%s server: bench_wire_client.py printed %q", name, out)
			continue
		}
		if n, err := strconv.Atoi(f[1]); err != nil || n < 8 {
			t.Errorf("%s server: %s calls answered, want at least 8", name, f[1])
		}
	}
}
