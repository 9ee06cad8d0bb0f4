package rpc

import (
	"context"
	"time"
)

// workerIdle is how long an idle handler goroutine is kept for more work, at
// least (and less than 1.5 times that).
const workerIdle = 2 * time.Second

// reapTicks is the number of the reaper's ticks in workerIdle.
const reapTicks = 2

// workerPool keeps a connection's idle handler goroutines; it is guarded by
// the answer table's lock. Reusing them keeps their grown stacks: a new
// goroutine per call would grow its stack through reflect and gob on every
// call. Idle workers wait on channels of their own, most recently idle first,
// so a call wakes exactly one warm goroutine; one timer, ticking only while
// some are idle, lets go of those idle for workerIdle. Idle time is counted
// in the timer's ticks, so that a call's end reads no clock.
type workerPool struct {
	idle   []*worker // the last is the most recently idle
	reaper *time.Timer
	tick   uint64 // the reaper's ticks so far
	armed  bool
	closed bool
}

// worker is an idle handler goroutine's mailbox; a nil call tells it to end.
type worker struct {
	calls chan *incall
	since uint64 // the reaper's tick when it went idle
}

// startCall records ic as running and hands it to an idle handler goroutine,
// or starts one. When the connection has ended, the call still runs, with its
// context cancelled.
func (c *Conn) startCall(ic *incall) {
	t := &c.answers
	t.mu.Lock()
	if !t.record(ic) {
		t.mu.Unlock()
		ic.cancel(context.Canceled)
		go c.worker(ic)
		return
	}
	p := &t.workers
	var w *worker
	if n := len(p.idle); n > 0 {
		w = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	}
	t.mu.Unlock()
	if w != nil {
		w.calls <- ic // cannot block: an idle worker's mailbox is empty
		return
	}
	go c.worker(ic)
}

// worker serves calls until it is let go (idle too long, or the connection
// ended).
func (c *Conn) worker(ic *incall) {
	w := &worker{calls: make(chan *incall, 1)}
	for ic != nil {
		c.serve(ic)
		// As net/http's request context: the handler's context ends when
		// the handler returns, for whatever it handed its context to.
		ic.cancel(context.Canceled)
		ic.dropArgs()
		if !c.finishCall(ic, w) {
			return
		}
		ic = <-w.calls
	}
}

// finishCall takes ic, answered, out of the table and records w as idle;
// false when the connection has ended (w then ends).
func (c *Conn) finishCall(ic *incall, w *worker) bool {
	t := &c.answers
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remove(ic)
	p := &t.workers
	if p.closed {
		return false
	}
	w.since = p.tick
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(workerIdle/reapTicks, t.reap)
		} else {
			p.reaper.Reset(workerIdle / reapTicks)
		}
	}
	return true
}

// reap is the reaper's tick: it lets go of the workers that went idle
// before the last reapTicks ticks (idle for workerIdle at least), and ticks
// again while some are idle.
func (t *answerTable) reap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.workers
	p.armed = false
	if p.closed {
		return
	}
	p.tick++
	k := 0
	for k < len(p.idle) && p.idle[k].since+reapTicks < p.tick {
		p.idle[k].calls <- nil
		k++
	}
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n > 0 {
		p.armed = true
		p.reaper.Reset(workerIdle / reapTicks)
	}
}

// closeWorkers lets go of every idle worker; busy ones end after their call.
func (t *answerTable) closeWorkers() {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.workers
	p.closed = true
	for _, w := range p.idle {
		w.calls <- nil
	}
	clear(p.idle)
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
	}
}
