package rpc

import (
	"sync"
	"time"
)

// workerIdle is how long an idle handler goroutine is kept for more work.
const workerIdle = 2 * time.Second

// workerPool keeps a connection's idle handler goroutines. Reusing them keeps
// their grown stacks: a new goroutine per call would grow its stack through
// reflect and gob on every call. Idle workers wait on channels of their own,
// most recently idle first, so a call wakes exactly one warm goroutine; one
// timer, armed only while some are idle, lets go of those idle for longer than
// workerIdle.
type workerPool struct {
	mu     sync.Mutex
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

// dispatch hands ic to an idle handler goroutine, or starts one.
func (c *Conn) dispatch(ic *incall) {
	p := &c.workers
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.calls <- ic // cannot block: an idle worker's mailbox is empty
		return
	}
	p.mu.Unlock()
	go c.worker(ic)
}

// worker serves calls until it is let go (idle too long, or the connection
// ended).
func (c *Conn) worker(ic *incall) {
	w := &worker{calls: make(chan *incall, 1)}
	for ic != nil {
		c.serve(ic)
		if !c.workers.park(w) {
			return
		}
		ic = <-w.calls
	}
}

// park records w as idle; false when the pool is closed.
func (p *workerPool) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	w.since = time.Now()
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(workerIdle, p.reap)
		} else {
			p.reaper.Reset(workerIdle)
		}
	}
	return true
}

// reap lets go of the workers idle for workerIdle or more.
func (p *workerPool) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// close lets go of every idle worker; busy ones end after their call.
func (p *workerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
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
