package firefly_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// stackEnv set makes TestFreshCallerStackAllocs measure, in a process whose
// goroutines start with the smallest stack.
const stackEnv = "FIREFLY_TEST_FRESH_STACK"

// blockRoot is TestFreshCallerStackAllocs's server: add, and a call that
// waits until release is closed.
type blockRoot struct{ release chan struct{} }

func (r *blockRoot) RemoteAdd(a, b int) int { return a + b }

func (r *blockRoot) RemoteBlock() { <-r.release }

// TestFreshCallerStackAllocs: a call made from a freshly started goroutine
// on a busy connection (so that it is queued for the writer goroutine, not
// written by its caller) fits the goroutine's first stack, 2 KiB, with a
// frame of the caller's own above it: 500 such callers, each parked after
// its call, hold less than 3 KiB of stack each, where a stack that grew
// would be 4 KiB. The bursts of P10 grew one caller's stack in nine that
// way, at some 17,000 instructions each.
//
// It runs in a child process with GODEBUG=adaptivestackstart=0, so that
// goroutines start with 2 KiB whatever the test binary did before, the
// collector off, so that no stack is shrunk meanwhile, and GOMAXPROCS=1:
// a lock that another processor holds takes its slow path, some 350 bytes
// deeper, and a call that meets one still grows its stack.
func TestFreshCallerStackAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation enlarges the frames")
	}
	if os.Getenv(stackEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFreshCallerStackAllocs$", "-test.v")
		cmd.Env = append(os.Environ(), stackEnv+"=1", "GODEBUG=adaptivestackstart=0", "GOMAXPROCS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFreshCallerStackAllocs") {
			t.Fatalf("the measuring process: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "bytes of stack") {
				t.Log(strings.TrimSpace(line))
			}
		}
		return
	}
	root := &blockRoot{release: make(chan struct{})}
	conn := dialServer(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Three calls waiting keep the connection busy: every call after them
	// is queued for the writer goroutine.
	blocked := make(chan error, 3)
	for range 3 {
		go func() { blocked <- conn.Root().Call(ctx, "block", nil) }()
	}
	defer func() {
		close(root.release)
		for range 3 {
			if err := <-blocked; err != nil {
				t.Errorf("block: %v", err)
			}
		}
	}()
	for conn.Stats().PendingCalls < 3 {
		if ctx.Err() != nil {
			t.Fatal("the blocking calls never went out")
		}
		time.Sleep(time.Millisecond)
	}
	// A round of callers first, so that the server's handler goroutines
	// are there before the measure.
	parked := make(chan struct{})
	round := func(n int) error {
		var calls sync.WaitGroup
		sums, errs := make([]int, n), make([]error, n)
		for i := range n {
			calls.Add(1)
			go func() {
				errs[i] = conn.Root().Call(ctx, "add", &sums[i], i, 1)
				calls.Done()
				<-parked // keep this goroutine, and its stack, until the measure
			}()
		}
		calls.Wait()
		for i := range n {
			if errs[i] != nil || sums[i] != i+1 {
				return fmt.Errorf("add(%d, 1) = %d, %v", i, sums[i], errs[i])
			}
		}
		return nil
	}
	if err := round(100); err != nil {
		t.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const callers = 500
	if err := round(callers); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	close(parked)
	per := float64(after.StackInuse-before.StackInuse) / callers
	t.Logf("%.0f bytes of stack per parked caller", per)
	if per >= 3<<10 {
		t.Fatalf("%.0f bytes of stack per caller: the calls grew their 2 KiB stacks", per)
	}
}
