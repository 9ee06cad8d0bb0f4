package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// TestMaxExportsExactUnderConcurrency: 8 connections at once, each making
// 16390 calls of a method that returns a new referenceable, in concurrent
// batches of 500 (under the race detector: a limit of 1024 and 1030 calls). No connection ever holds more than MaxExports exports:
// the caller, which keeps every reference it got, has at most that many;
// the calls past it fail with ErrTooManyReferences, and the connection is
// closed once the violations are repeated.
func TestMaxExportsExactUnderConcurrency(t *testing.T) {
	const conns, batch = 8, 500
	limit := rpc.DefaultMaxExports
	if raceEnabled {
		limit = 1024 // the same overshoot and batches, a smaller table
	}
	calls := limit + 6
	srv, addr := secServe(t, newCalc(), rpc.WithMaxExports(limit))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	type outcome struct {
		got     int        // references received
		refs    []*rpc.Ref // kept, so that none is released
		tooMany int
		lost    int
		other   []error
	}
	results := make([]outcome, conns)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := rpc.Dial(ctx, "tcp", addr)
			if err != nil {
				results[c].other = append(results[c].other, err)
				return
			}
			defer conn.Close()
			var mu sync.Mutex
			res := &results[c]
			for start := 0; start < calls; start += batch {
				var bwg sync.WaitGroup
				for range min(batch, calls-start) {
					bwg.Add(1)
					go func() {
						defer bwg.Done()
						var r *rpc.Ref
						err := conn.Root().Call(ctx, "newCounter", &r, 0)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil && r != nil:
							res.got++
							res.refs = append(res.refs, r)
						case errors.Is(err, rpc.ErrTooManyReferences):
							res.tooMany++
						case errors.Is(err, rpc.ErrConnectionLost):
							res.lost++
						default:
							res.other = append(res.other, err)
						}
					}()
				}
				bwg.Wait()
			}
		}()
	}
	wg.Wait()
	for c, r := range results {
		t.Logf("connection %d: %d references, %d ErrTooManyReferences, %d lost", c, r.got, r.tooMany, r.lost)
		if r.got > limit {
			t.Errorf("connection %d: %d references exported, limit %d", c, r.got, limit)
		}
		if len(r.other) > 0 {
			t.Errorf("connection %d: unexpected errors, the first %v", c, r.other[0])
		}
		if r.got+r.tooMany+r.lost != calls {
			t.Errorf("connection %d: %d outcomes of %d calls", c, r.got+r.tooMany+r.lost, calls)
		}
	}
	for _, sc := range srv.Conns() {
		if n := sc.Stats().Exports; n > limit {
			t.Errorf("a server connection holds %d exports, limit %d", n, limit)
		}
	}
}
