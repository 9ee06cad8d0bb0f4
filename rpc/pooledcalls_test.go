package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// spinner's handler takes no context, so the broker reuses its calls' state
// (see incall.pooled); it runs for about n microseconds.
type spinner struct{}

func (spinner) RemoteSpin(n, x int) int {
	for end := time.Now().Add(time.Duration(n) * time.Microsecond); time.Now().Before(end); {
	}
	return x + 1
}

// TestCancelsRaceReusedCalls: the callers' cancels reach the server while
// the calls they cancel end, are answered and have their state reused by
// later calls (run with -race, a cancel touching state given back is
// reported). Every call gets its own answer or its context's error, and
// the connection serves calls correctly afterwards.
func TestCancelsRaceReusedCalls(t *testing.T) {
	_, conn := pair(t, spinner{}, nil)
	const callers, calls = 8, 3000
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ctx, cancel := context.WithCancel(context.Background())
				stop := time.AfterFunc(time.Duration(i%40)*time.Microsecond, cancel)
				x := g*calls + i
				var y int
				err := conn.Root().Call(ctx, "spin", &y, i%30, x)
				stop.Stop()
				cancel()
				switch {
				case err == nil && y != x+1:
					errs <- errors.New("a call got another call's answer")
					return
				case err != nil && !errors.Is(err, context.Canceled):
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range 100 {
		var y int
		if err := conn.Root().Call(context.Background(), "spin", &y, 0, i); err != nil || y != i+1 {
			t.Fatalf("after the cancels: spin(%d) = %d, %v", i, y, err)
		}
	}
}

// TestCloseRacesReusedCalls: a connection's end cancels the calls still
// running (answerTable.cancelAll) while they end and their state is reused
// by the calls of other connections of the same server (run with -race).
// Every call gets its answer or the connection's error.
func TestCloseRacesReusedCalls(t *testing.T) {
	srv, err := rpc.NewServer(spinner{})
	if err != nil {
		t.Fatal(err)
	}
	ln, conn := pairWith(t, srv)
	defer srv.Close()
	defer ln.Close()
	defer conn.Close()
	const rounds = 300
	for round := range rounds {
		c, err := rpc.Dial(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(2)
			go func() { // a call on the connection that ends
				defer wg.Done()
				var y int
				if err := c.Root().Call(context.Background(), "spin", &y, g*3, g); err == nil && y != g+1 {
					t.Errorf("round %d: spin(%d) = %d", round, g, y)
				}
			}()
			go func() { // a call on the one that stays
				defer wg.Done()
				var y int
				if err := conn.Root().Call(context.Background(), "spin", &y, g*3, g); err != nil || y != g+1 {
					t.Errorf("round %d: spin(%d) = %d, %v on the connection that stays", round, g, y, err)
				}
			}()
		}
		time.Sleep(time.Duration(round%30) * 2 * time.Microsecond)
		c.Close()
		wg.Wait()
	}
}
