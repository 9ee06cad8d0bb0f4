package transport

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The reader role. One goroutine at a time reads the session's input and
// handles its frames: the session's own reader goroutine (the background
// reader), or a goroutine waiting in ReadUntil for what the input will
// bring. Such a goroutine, when nobody else reads, reads itself: the answer
// it waits for is then handled on its own goroutine, and a round trip made by
// one goroutine at a time passes through no other. The role is a lock; its
// holder reads.
//
// The background reader gives the role up between reads from the network
// when exactly one goroutine waits in ReadUntil, the shape of calls made one
// after another. A goroutine that read in ReadUntil gives it up when it has
// what it waited for: to the goroutine still waiting, if one does, and
// otherwise to nobody for readLinger, so that the next call, made at once,
// finds the role free. If none takes it in that time, the background reader
// takes it again. So input that nobody waits for (the peer's calls, pings,
// credit) waits at most readLinger to be read; the session's own waits for
// input (a stream's Read, a write waiting for credit, Ping, Accept) hand the
// role to the background reader at once (needReader).
type readRole struct {
	lock sync.Mutex // held by the goroutine reading the input

	mu      sync.Mutex
	waiters int           // goroutines in ReadUntil not reading
	served  bool          // one of them returned since the background reader's last read
	free    chan struct{} // (1) signalled when the role was given up to the waiters
	bgWake  chan struct{} // (1) hands the role, held, to the background reader
	// The linger (lingerLocked): the role was last given up at freeAt,
	// and the timer ticks while lingering. slow is set when the role was
	// given up twice in a row more than lingerFor apart (see tookRole).
	linger    *time.Timer
	lingerFor time.Duration // readLinger (tests set more)
	freeAt    time.Time
	lingering bool
	slow      atomic.Bool

	// Owned by the role's holder.
	done     <-chan struct{} // a ReadUntil reader's channel
	got      bool            // the reader received from done in a read (see input)
	boundary bool            // the reader is between frames
	err      error           // a ReadUntil reader's read error, for the background reader
	// inRead is set while a ReadUntil reader waits in a read from the
	// network between frames, where Wake may interrupt it.
	inRead atomic.Bool

	// Lending the role (inline.go). inFrame, rest and pending are the
	// holder's: inFrame is set while a stream's receive or notify
	// function runs, rest is the part of the frame still in the read
	// buffer then, and pending is the Inliner arranged for the frame.
	inFrame bool
	rest    int
	pending Inliner
	// Guarded by mu: an Inliner runs (lent) since lendAt, holding lease
	// lendSeq, on the background reader's goroutine (bgLent) or a
	// ReadUntil reader's; it reads (nested); the role was taken from it.
	// The watch over Inliners ticks while watching; watchSeq is lendSeq
	// at its last tick.
	lent     atomic.Bool // also read by the holder without mu (Inline)
	bgLent   bool
	nested   bool
	taken    bool
	lendSeq  uint64
	lendAt   time.Time
	watch    *time.Timer
	watching bool
	watchSeq uint64
}

// readLinger is how long the role stays free after a ReadUntil reader gave it
// up before the background reader takes it again.
const readLinger = 100 * time.Microsecond

// errYielded ends readFrames when the background reader gave the role up.
var errYielded = errors.New("transport: reader role given up")

// errTaken ends the reading of a goroutine whose role was taken while it ran
// an Inliner.
var errTaken = errors.New("transport: reader role taken")

// errInterrupted is the input's error when a ReadUntil reader received from
// its done channel between frames.
var errInterrupted = errors.New("transport: read interrupted")

// init gives the role to the background reader. The channels and timers are
// made when first needed, so that a connection that never has a goroutine
// read for itself keeps none.
func (r *readRole) init() {
	r.lingerFor = readLinger
	r.lock.Lock() // the background reader's, from the start
}

// lingerLocked records that the role was given up now, to be taken by the
// background reader readLinger from now if nobody takes it first. One timer
// ticks for it, started when the role is given up with the timer stopped,
// so that calls made one after another set no timer each. r.mu must be
// held.
func (s *Session) lingerLocked() {
	r := &s.role
	now := time.Now()
	r.slow.Store(now.Sub(r.freeAt) > r.lingerFor)
	r.freeAt = now
	if r.lingering {
		return
	}
	r.lingering = true
	if r.linger == nil {
		r.linger = time.AfterFunc(r.lingerFor, s.lingerTick)
		return
	}
	r.linger.Reset(r.lingerFor)
}

// tookRole is called by a goroutine that took the free role in ReadUntil.
// When the role is given up less often than every readLinger (round trips
// longer than it: a slow network, a slow process), the linger's timer,
// started at the last giving up, would tick while the role is held again,
// once a round trip. It is stopped here instead, which costs less, and
// started again at the next giving up. Round trips shorter than readLinger
// leave it ticking: one start then serves many of them.
func (s *Session) tookRole() {
	r := &s.role
	if !r.slow.Load() {
		return
	}
	r.mu.Lock()
	if r.lingering {
		r.lingering = false
		r.linger.Stop()
	}
	r.mu.Unlock()
}

// lingerTick is the linger timer's function. The role held by somebody
// stops it (the next giving up starts it again); the role free for
// readLinger, or wanted by a goroutine waiting in ReadUntil, goes to the
// background reader; the role free for less waits for the rest.
func (s *Session) lingerTick() {
	r := &s.role
	r.mu.Lock()
	if !r.lock.TryLock() {
		r.lingering = false
		r.mu.Unlock()
		return
	}
	if left := r.lingerFor - time.Since(r.freeAt); left > 0 && r.waiters == 0 {
		r.lock.Unlock()
		r.linger.Reset(left)
		r.mu.Unlock()
		return
	}
	r.lingering = false
	r.mu.Unlock()
	r.bgWake <- struct{}{}
}

// signalFreeLocked tells a goroutine waiting in ReadUntil that the role is
// free. r.mu must be held.
func (r *readRole) signalFreeLocked() {
	if r.free != nil {
		signal(r.free)
	}
}

// input is the reader's source: the connection, through which an interrupt
// (Wake) reaches a ReadUntil reader as a read deadline in the past. The
// deadline is an interrupt, never an error of the connection: it is cleared
// and the read goes on, unless a ReadUntil reader is between frames and has
// what it waited for.
type input struct {
	conn net.Conn
	role *readRole // nil during the handshake
}

func (in *input) Read(p []byte) (int, error) {
	r := in.role
	for {
		between := r != nil && r.done != nil && r.boundary
		if between {
			r.inRead.Store(true)
			select {
			case <-r.done:
				r.inRead.Store(false)
				r.got = true
				return 0, errInterrupted
			default:
			}
		}
		n, err := in.conn.Read(p)
		if between {
			r.inRead.Store(false)
		}
		if err == nil || r == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		in.conn.SetReadDeadline(time.Time{})
		if n > 0 {
			return n, nil
		}
	}
}

// ReadUntil returns once it has received from done. While it waits and no
// other goroutine reads the session's input, it reads the input and handles
// it itself, as the session's reader would (see readRole): when the input
// brings what done waits for, whatever sends on done runs on this goroutine.
// A value sent on done by another goroutine must be followed by Wake, which
// interrupts such a read.
func (s *Session) ReadUntil(done <-chan struct{}) {
	r := &s.role
	for {
		if r.lock.TryLock() && s.readFor(done) {
			return
		}
		r.mu.Lock()
		r.waiters++
		if r.free == nil {
			r.free = make(chan struct{}, 1)
		}
		free := r.free
		r.mu.Unlock()
		var got bool
		select {
		case <-done:
			got = true
		case <-free:
		}
		r.mu.Lock()
		r.waiters--
		if got {
			r.served = true
		}
		r.mu.Unlock()
		if got {
			return
		}
	}
}

// Wake interrupts a goroutine reading in ReadUntil between frames, so that it
// looks at its done channel again. Whoever sends on a ReadUntil's done
// channel off the reading goroutine calls it after the send.
func (s *Session) Wake() {
	if s.role.inRead.Load() {
		s.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// readFor reads frames, holding the role, until it receives from done; it
// reports false when it handed the role to the background reader instead,
// after a read error (which the background reader then handles).
func (s *Session) readFor(done <-chan struct{}) bool {
	r := &s.role
	r.done, r.got = done, false
	s.tookRole()
	for {
		select {
		case <-done:
			r.got = true
		default:
		}
		if r.got {
			r.done, r.got = nil, false
			s.giveUpRole()
			return true
		}
		if s.br.Buffered() == 0 {
			s.resizeReadBuffer()
		}
		err := s.readFrame()
		if err == nil || err == errInterrupted {
			continue
		}
		if err == errTaken {
			return false // the role passed on while a call ran inline
		}
		r.done, r.got = nil, false
		r.err = err
		r.bgWake <- struct{}{}
		return false
	}
}

// giveUpRole lets go of the role a ReadUntil reader held: to the one
// goroutine still waiting in ReadUntil, if there is one; to the background
// reader when several wait (their answers then come to each of them, with no
// reader's stack grown on each of their goroutines); otherwise to the
// background reader after readLinger, if nobody took it by then.
func (s *Session) giveUpRole() {
	r := &s.role
	r.mu.Lock()
	switch {
	case r.waiters > 1 || s.isDone():
		r.mu.Unlock()
		r.bgWake <- struct{}{}
		return
	case r.waiters == 1:
		r.signalFreeLocked()
	}
	r.lock.Unlock()
	s.lingerLocked()
	r.mu.Unlock()
}

// yieldRole is the background reader's choice between reads from the
// network: it gives the role up, and reports true, when exactly one
// goroutine waits in ReadUntil, or none does and one returned from it since
// the last read (the reader brought it what it waited for).
func (s *Session) yieldRole() bool {
	r := &s.role
	r.mu.Lock()
	served := r.served
	r.served = false
	if !(r.waiters == 1 || r.waiters == 0 && served) || s.isDone() {
		r.mu.Unlock()
		return false
	}
	if r.bgWake == nil {
		r.bgWake = make(chan struct{}, 1) // before the role is free to hand back
	}
	r.lock.Unlock()
	r.signalFreeLocked()
	s.lingerLocked()
	r.mu.Unlock()
	return true
}

// WantInput hands the reader role to the background reader at once if
// nobody holds it: the caller waits for input, and not in ReadUntil.
func (s *Session) WantInput() { s.needReader() }

// needReader hands the role to the background reader if nobody holds it:
// something waits for input that no ReadUntil waits for.
func (s *Session) needReader() {
	r := &s.role
	if r.lock.TryLock() {
		r.bgWake <- struct{}{} // the one holder hands it over: never full
	}
}

// reclaim waits, for the background reader, until the role is handed back to
// it, and returns a ReadUntil reader's read error, if that is why.
func (s *Session) reclaim() error {
	r := &s.role
	<-r.bgWake
	err := r.err
	r.err, r.done = nil, nil
	return err
}
