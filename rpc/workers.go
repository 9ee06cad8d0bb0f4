package rpc

import (
	"context"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/transport"
	"runtime"
	rtmetrics "runtime/metrics"
	"time"
)

// workerIdle is how long an idle handler goroutine is kept for more work, at
// least (and less than 1.5 times that).
const workerIdle = 2 * time.Second

// reapTicks is the number of the reaper's ticks in workerIdle.
const reapTicks = 2

// watchInterval is the period of the run queue's watchdog (see workerPool).
const watchInterval = 500 * time.Microsecond

// openFor is how long a connection whose handlers were found stuck runs
// every call at once, as it arrives (see workerPool).
const openFor = 100 * time.Millisecond

// workerPool runs a connection's incoming calls on handler goroutines
// (workers); it is guarded by the answer table's lock.
//
// At most limit workers (twice GOMAXPROCS, and at least 4) run handlers at
// once; the calls admitted past that wait in a queue, first come first
// served, and a worker that finishes a call takes the next one without
// going idle. A burst of quick calls is so run back to back by a few warm
// goroutines, with no goroutine woken per call. A handler that waits for a
// call of its own made with its context, or one derived from it (Ref.Call
// from within a handler), gives its place to a waiting call while it waits.
// A handler that blocks otherwise (a lock, a channel, I/O) is noticed by a
// watchdog that ticks every watchInterval while calls wait: a worker that
// has neither started, finished nor resumed a call for a whole tick is taken
// as stuck, and a waiting call is started in its place. When no call at all
// finished in the tick while the process had processors to spare (so the
// handlers did not wait for one), every waiting call is started, and for
// openFor from then on, while its handlers are likely to block, the
// connection starts every call at once, as it arrives (open). So a call
// waits at most about two ticks behind handlers that make no progress, and
// handlers that block (on a database, say) run as many at once as there
// are calls.
//
// Reusing workers keeps their grown stacks: a new goroutine per call would
// grow its stack through reflect and gob on every call. Idle workers wait
// on channels of their own, most recently idle first, so a call wakes
// exactly one warm goroutine; one timer, ticking only while some are idle,
// lets go of those idle for workerIdle. Idle time is counted in the timer's
// ticks, so that a call's end reads no clock.
type workerPool struct {
	idle   []*worker // the last is the most recently idle
	reaper *time.Timer
	tick   uint64 // the reaper's ticks so far
	armed  bool
	closed bool

	conn     *Conn
	limit    int
	queue    []*incall // admitted calls waiting for a worker: queue[head:]
	head     int
	busy     []*worker // the workers running a call
	active   int       // busy workers neither waiting in a call of their own nor stuck
	watch    *time.Timer
	every    time.Duration // the watchdog's period: watchInterval
	watching bool
	beat     uint64    // the watchdog's ticks so far
	open     bool      // calls start at once, without limit (see above)
	until    time.Time // when open ends
	queued   uint64    // calls ever queued
	moved    uint64    // calls finished or resumed so far
	seen     uint64    // moved at the watchdog's last tick
	runnable []rtmetrics.Sample
	// blocking holds the methods whose handlers, run on the transport's
	// reader, held it up (see startCall).
	blocking map[*registry.Method]backoff
}

// worker is a handler goroutine's mailbox; a nil call tells it to end. The
// other fields are guarded by the answer table's lock.
type worker struct {
	calls chan *incall
	since uint64 // the reaper's tick when it went idle
	// While busy:
	ic    *incall // the call it runs
	slot  int     // its index in busy
	beat  uint64  // the watchdog's tick when it last started, finished or resumed a call
	stuck bool    // taken as stuck by the watchdog: not counted as active
}

func (p *workerPool) init(c *Conn) {
	p.conn = c
	p.limit = max(4, 2*runtime.GOMAXPROCS(0))
	p.every = watchInterval
}

// startCall records ic as running and starts it on an idle worker or a new
// one, or queues it while limit workers are active. When the connection has
// ended, the call still runs, with its context cancelled, on a worker of its
// own. A call parsed on the transport's reader (onReader) with nothing more
// in hand, while no other handler runs, runs right there once its frame is
// handled (RunInline), in an idle worker's place, unless its method held the
// reader up lately (mayInline). Calls that come while others run go to
// workers, so that the reader reads on while they run.
func (c *Conn) startCall(ic *incall, onReader bool) {
	t := &c.answers
	t.mu.Lock()
	if !t.record(ic) {
		t.mu.Unlock()
		ic.cancel(context.Canceled)
		go c.worker(&worker{calls: make(chan *incall, 1)}, ic)
		return
	}
	p := &t.workers
	if p.open && time.Now().After(p.until) {
		p.open = false
	}
	if !p.open && (p.active >= p.limit || p.head < len(p.queue)) {
		p.queued++
		p.queue = append(p.queue, ic)
		if !p.watching {
			p.watching, p.seen = true, p.moved
			if p.watch == nil {
				p.watch = time.AfterFunc(p.every, t.watchdog)
			} else {
				p.watch.Reset(p.every)
			}
		}
		c.fill()
		t.mu.Unlock()
		return
	}
	// No other handler runs: no worker is busy but those waiting in calls
	// of their own, or ic's is the only handler admitted and not returned
	// (a worker whose handler returned may still be busy taking its call
	// out of the table while its answer brings the caller's next call).
	others := p.active > 0 && t.twoWay.Load()+t.oneWay.Load() > 1
	inline := onReader && !others && len(p.idle) > 0
	if inline {
		inline, ic.backedOff = p.mayInline(ic.m)
	}
	w, fresh := p.take(ic)
	t.mu.Unlock()
	if inline && c.sess.Inline(ic) {
		return
	}
	c.dispatch(w, fresh, ic)
}

// inlineBackoff bounds the calls of a method that held the reader up that
// run on workers before one runs on the reader again: the first time 16,
// then twice as many each time, up to maxInlineBackoff.
const (
	minInlineBackoff = 16
	maxInlineBackoff = 1 << 16
)

// backoff is a method's record in workerPool.blocking: its calls still to
// run on workers, and how many the next time it holds the reader up.
type backoff struct{ skip, next uint32 }

// mayInline reports whether a call of m may run on the transport's reader,
// counting it against m's backoff if it may not; backedOff reports that m
// has a backoff. t.mu must be held.
func (p *workerPool) mayInline(m *registry.Method) (ok, backedOff bool) {
	if len(p.blocking) == 0 {
		return true, false
	}
	b, found := p.blocking[m]
	if !found || b.skip == 0 {
		return true, found
	}
	b.skip--
	p.blocking[m] = b
	return false, true
}

// heldReader records that a call of m, run on the transport's reader, held
// it up: m's next calls run on workers, more of them each time. t.mu must be
// held.
func (p *workerPool) heldReader(m *registry.Method) {
	if p.blocking == nil {
		p.blocking = make(map[*registry.Method]backoff)
	}
	b := p.blocking[m]
	b.next = max(minInlineBackoff, min(2*b.next, maxInlineBackoff))
	b.skip = b.next
	p.blocking[m] = b
}

// quickInline records that a call of m, which has a backoff, ran on the
// transport's reader without holding it up: m's backoff halves, and ends
// below minInlineBackoff. So a method that held the reader up now and then
// (a collection's pause, a burst of the peer's) comes back to the reader,
// where only one that keeps holding it up stays on workers. t.mu must be
// held.
func (p *workerPool) quickInline(m *registry.Method) {
	b, found := p.blocking[m]
	if !found {
		return
	}
	b.next /= 2
	if b.next < minInlineBackoff {
		delete(p.blocking, m)
		return
	}
	p.blocking[m] = b
}

// RunInline runs ic, which startCall gave an idle worker's place, on the
// transport's reader (see transport.Session.Inline), as that worker would.
// A call whose handler held the reader up (transport.Lease.Held) has its
// method's next calls run on workers (heldReader); one that did not shortens
// its method's backoff, if it has one (quickInline).
func (ic *incall) RunInline(l transport.Lease) {
	c, w, m := ic.conn, ic.w, ic.m
	// Set before the handler runs, and never after (a pooled call is
	// cleared when it is given back): goroutines of the handler's may read
	// it meanwhile. Once the handler has returned the lease reads nothing.
	ic.lease = l
	c.serve(ic)
	held, backedOff := ic.held, ic.backedOff
	ic.returned()
	ic.dropArgs()
	next, ok := c.finishCall(ic, w)
	ic.release()
	if held || backedOff {
		t := &c.answers
		t.mu.Lock()
		if held {
			t.workers.heldReader(m)
		} else {
			t.workers.quickInline(m)
		}
		t.mu.Unlock()
	}
	switch {
	case !ok:
		w.calls <- nil // its goroutine waits in its mailbox: it ends
	case next != nil:
		w.calls <- next
	}
}

// take makes a worker busy with ic, counted as active: the most recently
// idle one, or a new one (fresh). t.mu must be held.
func (p *workerPool) take(ic *incall) (w *worker, fresh bool) {
	if n := len(p.idle); n > 0 {
		w = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	} else {
		w, fresh = &worker{calls: make(chan *incall, 1)}, true
	}
	w.slot = len(p.busy)
	p.busy = append(p.busy, w)
	p.begin(w, ic)
	return w, fresh
}

// begin gives busy worker w the call ic, counted as active. t.mu must be
// held.
func (p *workerPool) begin(w *worker, ic *incall) {
	w.ic, w.beat, w.stuck = ic, p.beat, false
	ic.w = w
	p.active++
}

// dispatch hands ic to w, which take made busy with it.
func (c *Conn) dispatch(w *worker, fresh bool, ic *incall) {
	if fresh {
		go c.worker(w, ic)
	} else {
		w.calls <- ic // cannot block: an idle worker's mailbox is empty
	}
}

// fill starts queued calls while fewer than limit workers are active. t.mu
// must be held; it hands the calls out itself (which never waits).
func (c *Conn) fill() {
	p := &c.answers.workers
	for (p.active < p.limit || p.open) && p.head < len(p.queue) {
		ic := p.pop()
		w, fresh := p.take(ic)
		c.dispatch(w, fresh, ic)
	}
}

// pop takes the first queued call. The queue's storage is reused: emptied,
// or moved down once half of it lies before the head, so that a queue that
// never empties under a steady load does not grow. t.mu must be held.
func (p *workerPool) pop() *incall {
	ic := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	switch {
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head >= 32 && 2*p.head >= len(p.queue):
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return ic
}

// worker serves calls, starting with ic, until it is let go (idle too long,
// or the connection ended).
func (c *Conn) worker(w *worker, ic *incall) {
	for ic != nil {
		c.serve(ic)
		ic.returned()
		ic.dropArgs()
		next, ok := c.finishCall(ic, w)
		ic.release()
		if !ok {
			return
		}
		if next == nil {
			next = <-w.calls
		}
		ic = next
	}
}

// finishCall takes ic, answered, out of the table. It returns the next
// queued call for w, if one may start; otherwise it records w as idle, or
// reports false when the connection has ended (w then ends).
func (c *Conn) finishCall(ic *incall, w *worker) (next *incall, ok bool) {
	t := &c.answers
	t.mu.Lock()
	t.remove(ic)
	p := &t.workers
	p.moved++
	if ic.w == w {
		ic.w = nil
		if ic.waits == 0 && !w.stuck {
			p.active--
		}
		if (p.active < p.limit || p.open) && p.head < len(p.queue) {
			next = p.pop()
			p.begin(w, next)
			c.fill()
			t.mu.Unlock()
			return next, true
		}
		last := p.busy[len(p.busy)-1]
		p.busy[w.slot], last.slot = last, w.slot
		p.busy[len(p.busy)-1] = nil
		p.busy = p.busy[:len(p.busy)-1]
		w.ic = nil
	}
	if p.head < len(p.queue) {
		c.fill()
	}
	if p.closed {
		t.mu.Unlock()
		return nil, false
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
	t.mu.Unlock()
	return nil, true
}

// waiting tells the pool that a goroutine waits for a call made with ic's
// context: while any does, ic's worker gives its place to a queued call.
func (c *Conn) waiting(ic *incall) {
	t := &c.answers
	t.mu.Lock()
	if w := ic.w; w != nil && ic.waits == 0 && !w.stuck {
		t.workers.active--
		c.fill()
	}
	ic.waits++
	t.mu.Unlock()
}

// resumed undoes waiting once the call it was told of is answered.
func (c *Conn) resumed(ic *incall) {
	t := &c.answers
	t.mu.Lock()
	ic.waits--
	t.workers.moved++
	if w := ic.w; w != nil {
		w.beat = t.workers.beat
		if ic.waits == 0 && !w.stuck {
			t.workers.active++
		}
	}
	t.mu.Unlock()
}

// watchdog is the run queue's tick: busy workers that made no progress for
// a whole tick are taken as stuck and queued calls started in their places;
// when no call finished in the tick either, the connection is opened (every
// queued call is started, and the calls that come for openFor after). It
// ticks again while calls wait.
func (t *answerTable) watchdog() {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.workers
	p.beat++
	found := false
	for _, w := range p.busy {
		if !w.stuck && w.ic.waits == 0 && w.beat+1 < p.beat {
			w.stuck = true
			p.active--
			found = true
		}
	}
	if found && p.moved == p.seen && !p.backlogged() {
		// No call finished for a tick, and not for want of a processor:
		// the handlers block, on something other than calls of their own.
		p.open, p.until = true, time.Now().Add(openFor)
	}
	p.seen = p.moved
	if p.head < len(p.queue) {
		p.conn.fill()
	}
	if p.head < len(p.queue) {
		p.watch.Reset(p.every)
	} else {
		p.watching = false
	}
}

// backlogged reports whether the process has more goroutines ready to run
// than processors: then handlers that did not move may only be waiting for
// their turn. t.mu must be held.
func (p *workerPool) backlogged() bool {
	if p.runnable == nil {
		p.runnable = []rtmetrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	}
	rtmetrics.Read(p.runnable)
	v := p.runnable[0].Value
	return v.Kind() == rtmetrics.KindUint64 && v.Uint64() >= uint64(runtime.GOMAXPROCS(0))
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

// closeWorkers lets go of every idle worker; busy ones end after their call
// and the queued calls (which the connection's end has cancelled).
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
