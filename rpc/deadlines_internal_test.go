package rpc

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// The deadline table ends every call armed in it once its deadline has
// passed, never before, and never one taken out: calls armed in random
// order with deadlines 1-40 ms ahead, a third of them disarmed at random
// moments.
func TestDeadlineTable(t *testing.T) {
	var tab deadlineTable
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Now()
	type armed struct {
		ic       *incall
		disarmed bool
	}
	var calls []armed
	for range 300 {
		ic := &incall{deadline: start.Add(time.Duration(1+rng.IntN(40)) * time.Millisecond), hasDeadline: true}
		tab.arm(ic)
		calls = append(calls, armed{ic: ic})
		if rng.IntN(3) == 0 {
			k := rng.IntN(len(calls))
			if !calls[k].disarmed {
				calls[k].ic.mu.Lock()
				ended := calls[k].ic.err != nil
				calls[k].ic.mu.Unlock()
				if !ended {
					tab.disarm(calls[k].ic)
					calls[k].disarmed = true
				}
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i, c := range calls {
		ic := c.ic
		ic.mu.Lock()
		err := ic.err
		ic.mu.Unlock()
		switch {
		case c.disarmed && err != nil:
			t.Errorf("call %d ended (%v) after it was disarmed", i, err)
		case !c.disarmed && err != context.DeadlineExceeded:
			t.Errorf("call %d: %v at 100 ms, want DeadlineExceeded (deadline %v)", i, err, ic.deadline.Sub(start))
		}
	}
	tab.mu.Lock()
	left := len(tab.heap)
	tab.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls left in the table", left)
	}
}

// A handler's context is never ended before its deadline: each records when
// it was ended, through an AfterFunc of its own (which arms it in its
// connection's deadline table).
func TestDeadlineTableNotEarly(t *testing.T) {
	conn := &Conn{}
	start := time.Now()
	ended := make(chan time.Duration, 50)
	for i := range 50 {
		ic := &incall{conn: conn, deadline: start.Add(time.Duration(50-i) * time.Millisecond / 5), hasDeadline: true}
		want := ic.deadline
		ic.AfterFunc(func() {
			if late := time.Since(want); late < 0 {
				ended <- late
			} else {
				ended <- 0
			}
		})
	}
	for range 50 {
		select {
		case early := <-ended:
			if early < 0 {
				t.Errorf("a call ended %v before its deadline", -early)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call was never ended")
		}
	}
}
