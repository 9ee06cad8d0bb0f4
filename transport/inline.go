package transport

import (
	"runtime"
	"time"
)

// Inliner is a function that Session.Inline runs on the reader's goroutine.
type Inliner interface {
	// RunInline runs holding the reader role, lent to it as l.
	RunInline(l Lease)
}

// Lease is the reader role lent to an Inliner (see Session.Inline).
type Lease struct {
	s   *Session
	seq uint64
}

// lendLimit is how long an Inliner may hold the reader role and still count
// as quick (Lease.Held).
const lendLimit = 200 * time.Microsecond

// lendWatch is the period of the watch over a session's Inliners, which
// runs while they do: an Inliner that has held the role, without reading,
// since the last tick has it taken, and another goroutine reads on.
const lendWatch = 5 * time.Millisecond

// Inline, called by a stream's receive or read-notify function as the reader
// calls it, arranges for f to run on the reader's goroutine once the frame
// is handled, and reports true; it reports false, arranging nothing, when
// input is in hand beyond the frame (it would wait for f), when another
// Inliner is arranged for the frame, or when the reader runs one already.
//
// f runs holding the reader role: no input is read while it runs, except by f
// itself, through its Lease's ReadUntil. If f holds the role through a whole
// tick of the session's watch (lendWatch) without reading, the role is taken
// from it: another goroutine reads on, and f's goroutine, once f returns, no
// longer reads. An input-bound round trip whose handler runs quickly so
// passes through no other goroutine, and a handler that blocks holds the
// input up for two ticks at most; Lease.Held tells the caller of Inline
// whether f held it up (for lendLimit or longer while more input came, or
// until it was taken), so that it may run such functions elsewhere.
func (s *Session) Inline(f Inliner) bool {
	r := &s.role
	if !r.inFrame || r.pending != nil || r.lent.Load() || s.br.Buffered() != r.rest || s.isDone() {
		return false
	}
	r.pending = f
	return true
}

// runPending runs the Inliner arranged for the frame just handled, if any,
// and reports false when the role was taken from this goroutine meanwhile.
// After a frame that ended the reading with an error, the Inliner runs on a
// goroutine of its own, with a Lease that reads nothing.
func (s *Session) runPending(err error) (kept bool) {
	r := &s.role
	f := r.pending
	if f == nil {
		return true
	}
	r.pending = nil
	if err != nil {
		go f.RunInline(Lease{})
		return true
	}
	r.mu.Lock()
	r.lendSeq++
	seq := r.lendSeq
	r.lent.Store(true)
	r.taken, r.nested = false, false
	r.bgLent = r.done == nil
	r.lendAt = time.Now()
	if !r.watching {
		r.watching, r.watchSeq = true, seq-1
		if r.watch == nil {
			r.watch = time.AfterFunc(lendWatch, s.watchLent)
		} else {
			r.watch.Reset(lendWatch)
		}
	}
	r.mu.Unlock()
	f.RunInline(Lease{s: s, seq: seq})
	r.mu.Lock()
	for r.nested && !r.takenLocked(seq) {
		// Another goroutine of the Inliner's reads through the lease: it
		// is done reading once what it waits for comes, and the Inliner's
		// end gives that up.
		r.mu.Unlock()
		runtime.Gosched()
		r.mu.Lock()
	}
	// Once the role was taken, the new reader may have lent it again: this
	// goroutine then touches none of the reader's state.
	kept = !r.takenLocked(seq)
	if kept {
		r.lent.Store(false)
	}
	r.mu.Unlock()
	return kept
}

// watchLent is the watch's tick: it takes the role from an Inliner that
// held it, without reading, since the last tick, and ticks on while the
// session's Inliners run.
func (s *Session) watchLent() {
	r := &s.role
	r.mu.Lock()
	defer r.mu.Unlock()
	lent := r.lent.Load()
	switch {
	case lent && !r.nested && !r.taken && r.lendSeq == r.watchSeq:
		s.takeLentLocked(nil)
	case !lent && r.lendSeq == r.watchSeq:
		r.watching = false // no Inliner ran for a whole tick
		return
	}
	r.watchSeq = r.lendSeq
	r.watch.Reset(lendWatch)
}

// takeLentLocked passes the role, lent, to the background reader, with err
// for it to handle (nil: it reads on). r.mu must be held.
func (s *Session) takeLentLocked(err error) {
	r := &s.role
	r.taken = true
	r.lent.Store(false)
	if r.bgLent {
		// The Inliner runs on the background reader's goroutine: a new one
		// reads on, and that goroutine ends once the Inliner returns.
		go s.readOn(err)
		return
	}
	r.err = err
	r.bgWake <- struct{}{} // the background reader waits in reclaim
}

// Taken reports whether the role was taken from the Inliner (see Inline).
func (l Lease) Taken() bool {
	if l.s == nil {
		return true
	}
	r := &l.s.role
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.takenLocked(l.seq)
}

// Held reports whether the Inliner, so far, held the reader role up: until
// it was taken, or for lendLimit or longer (since it last read, through the
// lease) while input came that it kept waiting, in the read buffer or the
// connection's, unread; where that cannot be known, it counts as waiting.
// An Inliner that ran long with no input waiting held nobody up: a peer that
// makes its calls one at a time, each waiting for its answer, sends nothing
// meanwhile, however long the answer takes (a slow network's round trip, a
// handler's own call over another connection).
func (l Lease) Held() bool {
	s := l.s
	if s == nil {
		return true
	}
	r := &s.role
	r.mu.Lock()
	taken := r.takenLocked(l.seq)
	long := time.Since(r.lendAt) >= lendLimit
	// Only the holder reads the buffer: not while a goroutine of the
	// Inliner's reads through the lease (which counts as input waiting),
	// nor once the role was taken (the taking, under r.mu, comes before the
	// new holder's reads).
	buffered := !taken && long && (r.nested || s.br.Buffered() > 0)
	r.mu.Unlock()
	switch {
	case taken || buffered:
		return true
	case !long:
		return false
	}
	n, ok := unreadInput(s.conn)
	return !ok || n > 0
}

// takenLocked reports whether the role was taken from the Inliner holding
// lease seq. r.mu must be held.
func (r *readRole) takenLocked(seq uint64) bool { return r.lendSeq != seq || r.taken }

// ReadUntil is Session.ReadUntil for the Inliner holding the lease: while
// the role is still its own, it reads the input itself until it receives
// from done.
func (l Lease) ReadUntil(done <-chan struct{}) {
	s := l.s
	if s == nil {
		<-done
		return
	}
	r := &s.role
	r.mu.Lock()
	if r.takenLocked(l.seq) || !r.lent.Load() || r.nested {
		r.mu.Unlock()
		s.ReadUntil(done)
		return
	}
	r.nested = true
	r.mu.Unlock()
	outer := r.done
	r.done, r.got = done, false
	var err error
	for err == nil || err == errInterrupted {
		select {
		case <-done:
			r.got = true
		default:
		}
		if r.got {
			break
		}
		if s.br.Buffered() == 0 {
			s.resizeReadBuffer()
		}
		err = s.readFrame()
	}
	r.done, r.got = outer, false
	r.mu.Lock()
	r.nested = false
	r.lendAt = time.Now() // the time it read held nothing up
	if err != nil && err != errInterrupted {
		s.takeLentLocked(err)
		r.mu.Unlock()
		<-done
		return
	}
	r.mu.Unlock()
}
