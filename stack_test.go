package firefly_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// stackEnv names the case TestFreshCallerStackAllocs measures, in a process
// of its own whose goroutines start with the smallest stack.
const stackEnv = "FIREFLY_TEST_FRESH_STACK"

// blockRoot is TestFreshCallerStackAllocs's server: add, as two ints or as
// a record, and a call that waits until release is closed.
type blockRoot struct{ release chan struct{} }

func (r *blockRoot) RemoteAdd(a, b int) int { return a + b }

func (r *blockRoot) RemoteSum(a Args) int { return a.A + a.B }

func (r *blockRoot) RemoteBlock() { <-r.release }

// freshStackCases are TestFreshCallerStackAllocs's cases: calls queued for
// the writer goroutine or held past the peer's limit, with two int
// arguments or a record.
var freshStackCases = map[string]struct{ held, record bool }{
	"queued":        {false, false},
	"queued-record": {false, true},
	"held":          {true, false},
	"held-record":   {true, true},
}

// TestFreshCallerStackAllocs: a call made from a freshly started goroutine
// fits the goroutine's first stack, 2 KiB, with a frame of the caller's own
// above it, whether it is queued for the writer goroutine on a busy
// connection (not written by its caller) or held past the peer's limit
// (encoded and left for a credit; rpc/held.go), and whether its argument is
// two ints or a record: 500 such callers, each parked after its call, hold
// less than 3 KiB of stack each, where a stack that grew would be 4 KiB.
// The bursts of P10 grew one caller's stack in nine that way, at some 17,000
// instructions each, and every one when the argument was a record.
//
// Each case runs in a child process of its own (so that no case's callers
// start on stacks another's left), with GODEBUG=adaptivestackstart=0, so
// that goroutines start with 2 KiB whatever the test binary did before, the
// collector off, so that no stack is shrunk meanwhile, and GOMAXPROCS=1:
// a lock that another processor holds takes its slow path, some 350 bytes
// deeper, and a call that meets one still grows its stack.
func TestFreshCallerStackAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation enlarges the frames")
	}
	name := os.Getenv(stackEnv)
	if name == "" {
		for _, name := range slices.Sorted(maps.Keys(freshStackCases)) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFreshCallerStackAllocs$", "-test.v")
			cmd.Env = append(os.Environ(), stackEnv+"="+name, "GODEBUG=adaptivestackstart=0", "GOMAXPROCS=1")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestFreshCallerStackAllocs") {
				t.Errorf("the measuring process of %s: %v\n%s", name, err, out)
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "bytes of stack") {
					t.Log(strings.TrimSpace(line))
				}
			}
		}
		return
	}
	c, ok := freshStackCases[name]
	if !ok {
		t.Fatalf("%s=%q: no such case", stackEnv, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	parked := make(chan struct{})
	defer close(parked)
	per, err := freshCallerStack(ctx, t, parked, c.held, c.record)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %.0f bytes of stack per parked caller", name, per)
	if per >= 3<<10 {
		t.Errorf("%s: %.0f bytes of stack per caller: the calls grew their 2 KiB stacks", name, per)
	}
}

// freshCallerStack measures TestFreshCallerStackAllocs's case: the stack
// that 500 freshly started callers hold, parked until parked is closed,
// each after adding i and 1
// (a record argument: as an Args) on a connection where three calls block.
// The calls are queued for the writer goroutine, or, held, are made past
// the server's limit of three handlers, so that they are held (see
// rpc/held.go) and parked waiting for their answers when measured.
func freshCallerStack(ctx context.Context, t *testing.T, parked <-chan struct{}, held, record bool) (float64, error) {
	root := &blockRoot{release: make(chan struct{})}
	var conn *rpc.Conn
	if held {
		srv, err := rpc.NewServer(root, rpc.WithMaxHandlers(3))
		if err != nil {
			return 0, err
		}
		ln := listen(t)
		go srv.Serve(ln)
		defer srv.Close()
		if conn, err = rpc.Dial(ctx, "tcp", ln.Addr().String()); err != nil {
			return 0, err
		}
		defer conn.Close()
	} else {
		conn = dialServer(t, root)
	}
	blocked := make(chan error, 3)
	for range 3 {
		go func() { blocked <- conn.Root().Call(ctx, "block", nil) }()
	}
	released := false
	release := func() error {
		if released {
			return nil
		}
		released = true
		close(root.release)
		for range 3 {
			if err := <-blocked; err != nil {
				return fmt.Errorf("block: %v", err)
			}
		}
		return nil
	}
	defer release()
	pending := func(n int) error {
		for conn.Stats().PendingCalls < n {
			if ctx.Err() != nil {
				return fmt.Errorf("%d calls pending, never %d", conn.Stats().PendingCalls, n)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	if err := pending(3); err != nil {
		return 0, err
	}
	var calls sync.WaitGroup
	start := func(n int) ([]int, []error) {
		sums, errs := make([]int, n), make([]error, n)
		for i := range n {
			calls.Add(1)
			go func() {
				if record {
					errs[i] = conn.Root().Call(ctx, "sum", &sums[i], Args{i, 1})
				} else {
					errs[i] = conn.Root().Call(ctx, "add", &sums[i], i, 1)
				}
				calls.Done()
				<-parked // keep this goroutine, and its stack, until the measure
			}()
		}
		return sums, errs
	}
	check := func(sums []int, errs []error) error {
		calls.Wait()
		for i := range sums {
			if errs[i] != nil || sums[i] != i+1 {
				return fmt.Errorf("adding %d and 1: %d, %v", i, sums[i], errs[i])
			}
		}
		return nil
	}
	if !held {
		// A round of callers first, so that the server's handler
		// goroutines are there before the measure.
		if err := check(start(100)); err != nil {
			return 0, err
		}
	}
	const callers = 500
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sums, errs := start(callers)
	if held {
		if err := pending(3 + callers); err != nil {
			return 0, err
		}
	} else if err := check(sums, errs); err != nil {
		return 0, err
	}
	runtime.ReadMemStats(&after)
	if held {
		if err := release(); err != nil {
			return 0, err
		}
		if err := check(sums, errs); err != nil {
			return 0, err
		}
	}
	return float64(after.StackInuse-before.StackInuse) / callers, nil
}
