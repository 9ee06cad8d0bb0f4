package distributed_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

type empty struct{}

type pair2 struct {
	A int
	B string
}

func mustMap(t testing.TB, s *distributed.Service, name string, fn any) {
	t.Helper()
	if err := s.Map(name, fn); err != nil {
		t.Fatalf("Map(%q): %v", name, err)
	}
}

func mustMapID(t testing.TB, s *distributed.Service, id int, fn any) {
	t.Helper()
	if err := s.MapID(id, fn); err != nil {
		t.Fatalf("MapID(%d): %v", id, err)
	}
}

func TestServiceMapAndCall(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("game")
	mustMap(t, s, "echo", func(x string) string { return x })
	mustMap(t, s, "Add", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
	mustMapID(t, s, 101, func(p pair2) pair2 { return pair2{p.A * 2, p.B + p.B} })
	mustMapID(t, s, -7, func() string { return "negative" })

	var str string
	for _, name := range []string{"echo", "Echo"} {
		str = ""
		if err := s.CallTarget(ctx, name, &str, "hi"); err != nil || str != "hi" {
			t.Fatalf("CallTarget(%q) = %q, %v", name, str, err)
		}
	}
	var sum int
	if err := s.CallTarget(ctx, "add", &sum, 2, 3); err != nil || sum != 5 {
		t.Fatalf("add = %d, %v", sum, err)
	}
	var p pair2
	for _, cmd := range []any{101, "101", int64(101), uint16(101)} {
		p = pair2{}
		if err := s.CallTarget(ctx, cmd, &p, pair2{3, "x"}); err != nil {
			t.Fatalf("CallTarget(%v): %v", cmd, err)
		}
		if want := (pair2{6, "xx"}); p != want {
			t.Fatalf("CallTarget(%v) = %+v, want %+v", cmd, p, want)
		}
	}
	if err := s.CallTarget(ctx, -7, &str); err != nil || str != "negative" {
		t.Fatalf("-7 = %q, %v", str, err)
	}
	if got, want := s.Targets(), []string{"-7", "101", "Add", "Echo"}; !slices.Equal(got, want) {
		t.Fatalf("Targets() = %q, want %q", got, want)
	}
	if m := s.Target(101); m == nil || m.Name != "101" {
		t.Fatalf("Target(101) = %v", m)
	}
	if m := s.Lookup("add"); m == nil || m.Name != "Add" {
		t.Fatalf("Lookup(add) = %v", m)
	}
	for _, bad := range []string{"ADD", "aDD", "RemoteAdd", "102", ""} {
		if m := s.Lookup(bad); m != nil {
			t.Errorf("Lookup(%q) = %v, want nil", bad, m)
		}
	}
	if err := s.CallTarget(ctx, 1.5, nil); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("float command: %v, want ErrBadArguments", err)
	}
	if err := s.CallTarget(ctx, "add", &sum, "x", 1); !errors.Is(err, rpc.ErrBadArguments) {
		t.Fatalf("bad argument: %v, want ErrBadArguments", err)
	}
}

func TestServiceMapErrors(t *testing.T) {
	s := distributed.NewService("svc")
	mustMap(t, s, "echo", func(x string) string { return x })
	if err := s.Map("Echo", func() {}); !errors.Is(err, distributed.ErrTargetExists) {
		t.Fatalf("Map twice: %v, want ErrTargetExists", err)
	}
	mustMapID(t, s, 5, func() {})
	if err := s.MapID(5, func() {}); !errors.Is(err, distributed.ErrTargetExists) {
		t.Fatalf("MapID twice: %v, want ErrTargetExists", err)
	}
	var re *registry.RegistrationError
	if err := s.Map("bad", func(chan int) {}); !errors.As(err, &re) {
		t.Fatalf("Map(chan param): %v, want a RegistrationError", err)
	}
	if err := s.MapID(9, func() (int, int) { return 0, 0 }); !errors.As(err, &re) || re.Method != "command 9" {
		t.Fatalf("MapID(bad shape): %v, want a RegistrationError naming command 9", err)
	}
	for _, name := range []string{"", "1abc", "a b"} {
		if err := s.Map(name, func() {}); !errors.As(err, &re) {
			t.Errorf("Map(%q): %v, want a RegistrationError", name, err)
		}
	}
	if err := s.Map("f", 3); !errors.As(err, &re) {
		t.Fatalf("Map(non-func): %v", err)
	}
	if !s.Unmap("echo") || s.Unmap("echo") || !s.UnmapID(5) || s.UnmapID(5) {
		t.Fatal("Unmap/UnmapID did not report removals correctly")
	}
	if got := s.Targets(); len(got) != 0 {
		t.Fatalf("Targets after unmapping = %q", got)
	}
	mustMap(t, s, "echo", func(x string) string { return x + "!" }) // mapping again after Unmap works
}

func TestServiceUnknownCommand(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc")
	for _, cmd := range []any{"nope", 404} {
		err := s.CallTarget(ctx, cmd, nil)
		if !errors.Is(err, rpc.ErrNoSuchMethod) {
			t.Fatalf("CallTarget(%v) = %v, want ErrNoSuchMethod", cmd, err)
		}
		if want := fmt.Sprint(cmd); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name the command %q", err, want)
		}
	}
}

// argValues makes the reflect arguments of a direct Service.Call.
func argValues(args ...any) []reflect.Value {
	vs := make([]reflect.Value, len(args))
	for i, a := range args {
		vs[i] = reflect.ValueOf(a)
	}
	return vs
}

func TestServiceZeroValues(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc")
	mustMap(t, s, "zeroInt", func() int { return 0 })
	mustMap(t, s, "zeroStr", func() (string, error) { return "", nil })
	mustMap(t, s, "falseBool", func() bool { return false })
	mustMap(t, s, "emptyStruct", func() empty { return empty{} })
	mustMap(t, s, "emptyMap", func() map[string]int { return map[string]int{} })

	i, str, b := 7, "x", true
	if err := s.CallTarget(ctx, "zeroInt", &i); err != nil || i != 0 {
		t.Fatalf("zeroInt = %d, %v", i, err)
	}
	if err := s.CallTarget(ctx, "zeroStr", &str); err != nil || str != "" {
		t.Fatalf("zeroStr = %q, %v", str, err)
	}
	if err := s.CallTarget(ctx, "falseBool", &b); err != nil || b {
		t.Fatalf("falseBool = %v, %v", b, err)
	}
	var e empty
	if err := s.CallTarget(ctx, "emptyStruct", &e); err != nil {
		t.Fatalf("emptyStruct: %v", err)
	}
	var m map[string]int
	if err := s.CallTarget(ctx, "emptyMap", &m); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("emptyMap = %#v, %v", m, err)
	}
}

func TestServicePanic(t *testing.T) {
	ctx := testutil.Context(t)
	for _, style := range []distributed.RunStyle{distributed.Parallel, distributed.Serial} {
		t.Run(style.String(), func(t *testing.T) {
			s := distributed.NewService("svc", distributed.WithRunStyle(style))
			mustMap(t, s, "boom", func() int { panic("boom") })
			mustMap(t, s, "ok", func() int { return 1 })
			for range 3 {
				err := s.CallTarget(ctx, "boom", nil)
				if !errors.Is(err, rpc.ErrPanic) {
					t.Fatalf("boom: %v, want ErrPanic", err)
				}
				var pe *registry.PanicError
				if !errors.As(err, &pe) || pe.Value != "boom" {
					t.Fatalf("boom: %v, want a PanicError with the value", err)
				}
				var n int
				if err := s.CallTarget(ctx, "ok", &n); err != nil || n != 1 {
					t.Fatalf("ok after a panic = %d, %v", n, err)
				}
			}
		})
	}
}

func TestServiceTargetError(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc")
	sentinel := errors.New("out of gold")
	mustMap(t, s, "buy", func(n int) (int, error) { return 0, fmt.Errorf("buy %d: %w", n, sentinel) })
	if err := s.CallTarget(ctx, "buy", nil, 3); !errors.Is(err, sentinel) {
		t.Fatalf("buy: %v, want the target's error", err)
	}
}

// tracker records the calls of a target: the order they ran in and how many
// ran at once.
type tracker struct {
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	mu       sync.Mutex
	order    []int
}

func (tr *tracker) enter(i int) {
	n := tr.inFlight.Add(1)
	for {
		m := tr.maxSeen.Load()
		if n <= m || tr.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	tr.mu.Lock()
	tr.order = append(tr.order, i)
	tr.mu.Unlock()
}

func (tr *tracker) leave() { tr.inFlight.Add(-1) }

func (tr *tracker) snapshot() []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]int(nil), tr.order...)
}

func TestServiceSerialNeverOverlaps(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc", distributed.WithRunStyle(distributed.Serial))
	var tr tracker
	mustMap(t, s, "work", func(i int) {
		tr.enter(i)
		time.Sleep(50 * time.Microsecond)
		tr.leave()
	})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if err := s.CallTarget(ctx, "work", nil, g*100+i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tr.mustHaveRunOneAtATime(t, 320)
}

// TestServiceSerialArrivalOrder drives the service the way the broker does:
// Lookup in arrival order, then Call from goroutines that start in any
// order. The calls must run in lookup order.
func TestServiceSerialArrivalOrder(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc", distributed.WithRunStyle(distributed.Serial), distributed.WithSerialGrace(time.Minute))
	var tr tracker
	mustMap(t, s, "rec", func(i int) { tr.enter(i); tr.leave() })
	const n = 100
	ms := make([]*registry.Method, n)
	for i := range ms {
		ms[i] = s.Lookup("rec")
	}
	var wg sync.WaitGroup
	for i := n - 1; i >= 0; i-- { // start them last first
		wg.Go(func() {
			if _, err := s.Call(ctx, ms[i], argValues(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if got := tr.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("run order %v, want arrival order %v", got, want)
	}
}

// TestServiceSerialAbandonedLookup: a lookup whose call never comes must not
// block the calls behind it past the grace.
func TestServiceSerialAbandonedLookup(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc", distributed.WithRunStyle(distributed.Serial), distributed.WithSerialGrace(30*time.Millisecond))
	mustMap(t, s, "f", func() int { return 1 })
	late := s.Lookup("f") // never called in time
	start := time.Now()
	var n int
	if err := s.CallTarget(ctx, "f", &n); err != nil || n != 1 {
		t.Fatalf("call behind an abandoned lookup = %d, %v", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call waited %v behind an abandoned lookup", d)
	}
	// The late call still runs, as a new arrival.
	if res, err := s.Call(ctx, late, nil); err != nil || res.Int() != 1 {
		t.Fatalf("late call = %v, %v", res, err)
	}
}

func TestServiceSerialWaitCancelled(t *testing.T) {
	s := distributed.NewService("svc", distributed.WithRunStyle(distributed.Serial))
	release := make(chan struct{})
	entered := make(chan struct{})
	mustMap(t, s, "block", func() { close(entered); <-release })
	mustMap(t, s, "f", func() int { return 2 })
	done := make(chan error, 1)
	go func() { done <- s.CallTarget(context.Background(), "block", nil) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.CallTarget(ctx, "f", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting call: %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.CallTarget(testutil.Context(t), "f", &n); err != nil || n != 2 {
		t.Fatalf("call after a cancelled wait = %d, %v", n, err)
	}
}

func TestServiceParallelOverlaps(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc") // Parallel is the default
	if s.RunStyle() != distributed.Parallel {
		t.Fatalf("default run style %v", s.RunStyle())
	}
	var in atomic.Int32
	both := make(chan struct{})
	mustMap(t, s, "barrier", func(ctx context.Context) error {
		if in.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the other call never came in")
		}
	})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- s.CallTarget(ctx, "barrier", nil) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestServiceConcurrentMapWhileCalling(t *testing.T) {
	ctx := testutil.Context(t)
	s := distributed.NewService("svc")
	mustMap(t, s, "stable", func(i int) int { return i })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := "t" + strconv.Itoa(i%5)
			s.Map(name, func() {})
			s.Unmap(name)
			s.MapID(i%7, func() {})
			s.UnmapID(i % 7)
		}
	})
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				var got int
				if err := s.CallTarget(ctx, "stable", &got, g*1000+i); err != nil || got != g*1000+i {
					t.Errorf("stable = %d, %v", got, err)
				}
				s.Targets()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// TestServiceSerialOrderOverWire: calls sent in sequence over one lane, without
// waiting (Send and Go), run one at a time in the order they were sent, both
// node -> root and root -> node.
func TestServiceSerialOrderOverWire(t *testing.T) {
	ctx := testutil.Context(t)
	const n = 200
	var rootTr, nodeTr tracker
	record := func(tr *tracker) func(int) {
		return func(i int) {
			tr.enter(i)
			time.Sleep(10 * time.Microsecond)
			tr.leave()
		}
	}
	// No lookup is abandoned here: a long grace keeps a starved handler
	// goroutine from losing its turn on a loaded machine.
	rootSvc := distributed.NewService("root", distributed.WithRunStyle(distributed.Serial), distributed.WithSerialGrace(time.Minute))
	mustMap(t, rootSvc, "rec", record(&rootTr))
	mustMap(t, rootSvc, "sync", func() {})
	root, addr := startRoot(t, "127.0.0.1:0", distributed.WithService(rootSvc), distributed.WithServerOptions(rpc.WithMaxLanes(1)))

	nodeSvc := distributed.NewService("game", distributed.WithRunStyle(distributed.Serial), distributed.WithSerialGrace(time.Minute))
	mustMap(t, nodeSvc, "rec", record(&nodeTr))
	mustMap(t, nodeSvc, "sync", func() {})
	node := connectNode(t, addr, "game", distributed.WithService(nodeSvc), distributed.WithDialOptions(rpc.WithMaxLanes(1)))

	done := make(chan *rpc.Call, n)
	for i := range n {
		if i%2 == 0 {
			if err := node.SendRemote(ctx, "rec", i); err != nil {
				t.Fatal(err)
			}
		} else {
			node.GoRemote(ctx, "rec", nil, done, i)
		}
	}
	if err := node.CallRemote(ctx, "sync", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "child", func() bool { return root.Child("game") != nil })
	child := root.Child("game")
	for i := range n {
		if i%2 == 0 {
			if err := child.Send(ctx, "rec", i); err != nil {
				t.Fatal(err)
			}
		} else {
			child.Go(ctx, "rec", nil, done, i)
		}
	}
	if err := child.Call(ctx, "sync", nil); err != nil {
		t.Fatal(err)
	}
	for range n {
		if c := <-done; c.Error != nil {
			t.Fatal(c.Error)
		}
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	for side, tr := range map[string]*tracker{"root": &rootTr, "node": &nodeTr} {
		if got := tr.snapshot(); !slices.Equal(got, want) {
			t.Errorf("%s ran the calls in order %v, want the send order", side, got)
		}
		if m := tr.maxSeen.Load(); m != 1 {
			t.Errorf("%s ran %d calls at once", side, m)
		}
	}
}

// TestServiceSerialConcurrentCallersOverWire: many callers from many nodes; a Serial
// root service never runs two targets at once.
func TestServiceSerialConcurrentCallersOverWire(t *testing.T) {
	ctx := testutil.Context(t)
	var tr tracker
	svc := distributed.NewService("root", distributed.WithRunStyle(distributed.Serial))
	mustMap(t, svc, "rec", func(i int) { tr.enter(i); time.Sleep(20 * time.Microsecond); tr.leave() })
	_, addr := startRoot(t, "127.0.0.1:0", distributed.WithService(svc))
	var wg sync.WaitGroup
	for k := range 4 {
		node := connectNode(t, addr, fmt.Sprint("n", k))
		for g := range 4 {
			wg.Go(func() {
				for i := range 25 {
					if err := node.CallRemote(ctx, "rec", nil, k*1000+g*100+i); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	tr.mustHaveRunOneAtATime(t, 400)
}

// mustHaveRunOneAtATime checks that want calls ran and never overlapped.
func (tr *tracker) mustHaveRunOneAtATime(t *testing.T, want int) {
	t.Helper()
	if m := tr.maxSeen.Load(); m != 1 {
		t.Fatalf("serial service ran %d calls at once", m)
	}
	if got := len(tr.snapshot()); got != want {
		t.Fatalf("%d calls ran, want %d", got, want)
	}
}

// TestServiceParallelOverWire: a Parallel service lets two calls in at once.
func TestServiceParallelOverWire(t *testing.T) {
	ctx := testutil.Context(t)
	root, addr := startRoot(t, "127.0.0.1:0")
	var in atomic.Int32
	both := make(chan struct{})
	mustMap(t, root.Service(), "barrier", func() error {
		if in.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("alone at the barrier")
		}
	})
	node := connectNode(t, addr, "n")
	c1 := node.GoRemote(ctx, "barrier", nil, nil)
	c2 := node.GoRemote(ctx, "barrier", nil, nil)
	for _, c := range []*rpc.Call{<-c1.Done, <-c2.Done} {
		if c.Error != nil {
			t.Fatal(c.Error)
		}
	}
}

// TestServiceSerialRefusedCallOverWire: the broker looks a call up and then
// refuses it (wrong number of arguments); the serial queue must not stall,
// and does not wait for the grace (an hour here): the broker abandons the
// lookup.
func TestServiceSerialRefusedCallOverWire(t *testing.T) {
	ctx := testutil.Context(t)
	svc := distributed.NewService("root", distributed.WithRunStyle(distributed.Serial), distributed.WithSerialGrace(time.Hour))
	mustMap(t, svc, "add", func(a, b int) int { return a + b })
	_, addr := startRoot(t, "127.0.0.1:0", distributed.WithService(svc))
	node := connectNode(t, addr, "n")
	for range 3 {
		if err := node.CallRemote(ctx, "add", nil, 1); !errors.Is(err, rpc.ErrBadArguments) {
			t.Fatalf("add(1) = %v, want ErrBadArguments", err)
		}
		start := time.Now()
		var sum int
		if err := node.CallRemote(ctx, "add", &sum, 1, 2); err != nil || sum != 3 {
			t.Fatalf("add(1, 2) = %d, %v", sum, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a call behind a refused one took %v", d)
		}
	}
}

// Lookup finds a target under its canonical and lower-camel names (and a
// command id) with no allocation: it runs for every call the broker reads.
// (A lower-camel name over 64 bytes may allocate.)
func TestServiceLookupDoesNotAllocate(t *testing.T) {
	s := distributed.NewService("game")
	mustMap(t, s, "forwarding", func(x string) string { return x })
	mustMapID(t, s, 101, func() {})
	long := strings.Repeat("x", 100)
	mustMap(t, s, long, func() {})
	for _, name := range []string{"forwarding", "Forwarding", "101", "X" + long[1:]} {
		if s.Lookup(name) == nil {
			t.Fatalf("Lookup(%q) = nil", name)
		}
		if n := testing.AllocsPerRun(100, func() { s.Lookup(name) }); n != 0 {
			t.Errorf("Lookup(%q): %.0f allocations, want 0", name, n)
		}
	}
	for _, name := range []string{"fORWARDING", "forwardingx", ""} {
		if m := s.Lookup(name); m != nil {
			t.Errorf("Lookup(%q) = %s, want nil", name, m.Name)
		}
	}
}
