package rpc

import (
	"context"
	"time"
)

// workerIdle is how long an idle handler goroutine is kept for more work.
const workerIdle = 2 * time.Second

// workerPool keeps a connection's idle handler goroutines; it is guarded by
// the answer table's lock. Reusing them keeps their grown stacks: a new
// goroutine per call would grow its stack through reflect and gob on every
// call. Idle workers wait on channels of their own, most recently idle first,
// so a call wakes exactly one warm goroutine; one timer, armed only while
// some are idle, lets go of those idle for longer than workerIdle.
type workerPool struct {
	idle   []*worker // the last is the most recently idle
	reaper *time.Timer
	armed  bool
	closed bool
}

// worker is an idle handler goroutine's mailbox; a nil call tells it to end.
type worker struct {
	calls chan *incall
	since time.Time
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
	w.since = time.Now()
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(workerIdle, t.reap)
		} else {
			p.reaper.Reset(workerIdle)
		}
	}
	return true
}

// reap lets go of the workers idle for workerIdle or more.
func (t *answerTable) reap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.workers
	p.armed = false
	if p.closed {
		return
	}
	cut := time.Now().Add(-workerIdle)
	k := 0
	for k < len(p.idle) && !p.idle[k].since.After(cut) {
		p.idle[k].calls <- nil
		k++
	}
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n > 0 {
		p.armed = true
		p.reaper.Reset(time.Until(p.idle[0].since.Add(workerIdle)) + time.Millisecond)
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
