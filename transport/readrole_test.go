package transport

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goid returns the calling goroutine's id, from its stack trace.
func goid() string {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	f := strings.Fields(string(b[:n]))
	return f[1]
}

// echoOnReceive has s's streams answer each payload they are offered with the
// same bytes, from the receive function.
func echoOnReceive(t *testing.T, s *Session) {
	s.SetAcceptFunc(func(st *Stream) {
		st.SetReceiveFunc(func(p []byte) int {
			if _, err := st.Write(p); err != nil {
				t.Errorf("echo: %v", err)
			}
			return len(p)
		})
	})
}

// A goroutine waiting in ReadUntil while nobody else reads reads the input
// itself: the receive function that brings what it waits for runs on its
// goroutine. Round trips made one after another all run so, the reader role
// being free when each begins (it lingers after each); and once nobody
// reads for longer than readLinger, the session's reader takes the role
// again and input nobody waits for is read (the peer's ping).
func TestReadUntilReadsOnItsGoroutine(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	// A linger that a slow run (the race detector) does not outlast
	// between rounds; set before the session's first ReadUntil.
	c.role.mu.Lock()
	c.role.lingerFor = time.Second
	c.role.mu.Unlock()
	echoOnReceive(t, s)
	ctx := testCtx(t)
	st, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	var on atomic.Value
	st.SetReceiveFunc(func(p []byte) int {
		on.Store(goid())
		done <- struct{}{}
		return len(p)
	})
	me := goid()
	round := func(i int) bool {
		if _, err := st.Write([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		c.ReadUntil(done)
		return on.Load() == me
	}
	// The first rounds may find the session's reader in a read already, or
	// bringing the next answer before it gives the role up.
	for i := range 5 {
		round(i)
	}
	const rounds = 50
	mine := 0
	for i := range rounds {
		if round(i) {
			mine++
		}
	}
	if mine < rounds*3/4 {
		t.Fatalf("%d of %d answers were read on the waiting goroutine", mine, rounds)
	}
	time.Sleep(2 * time.Second) // the linger runs out
	if _, err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after the role was given up: %v", err)
	}
}

// Wake makes a ReadUntil that reads for itself, blocked in a read with no
// input coming, look at its done channel again when another goroutine sent
// on it; the interrupt is no error of the connection, which works on.
func TestWakeInterruptsReadUntil(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	echoOnReceive(t, s)
	done := make(chan struct{}, 1)
	returned := make(chan struct{})
	go func() {
		c.ReadUntil(done)
		close(returned)
	}()
	// The session's reader, in a read, gives the role to the one waiter
	// once input comes: the peer's ping.
	for !c.role.inRead.Load() {
		if _, err := s.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	done <- struct{}{}
	c.Wake()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("ReadUntil did not return after Wake")
	}
	a, _ := openAccept(t, s, c, "after")
	if _, err := a.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(testCtx(t)); err != nil {
		t.Fatalf("ping after the interrupt: %v", err)
	}
}

// Interrupts that land while frames arrive, between them or inside one, lose
// no input: every byte of many frames (about 600 KB) arrives, in order, while a goroutine
// waits in ReadUntil again and again, reading them itself (the stream's data
// is taken by its receive and notify functions, so nothing else asks for the
// session's reader), and another goroutine wakes it at random.
func TestWakeLosesNoInput(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	a, b := openAccept(t, s, c, "x")
	var want bytes.Buffer
	for i := range 100000 {
		fmt.Fprintf(&want, "%d,", i)
	}
	var mu sync.Mutex
	var got bytes.Buffer
	finished := make(chan struct{})
	b.SetReceiveFunc(func(p []byte) int {
		mu.Lock()
		got.Write(p)
		mu.Unlock()
		return len(p)
	})
	b.SetReadNotify(func(bool) {
		var p [4 << 10]byte
		for {
			n, err := b.TryRead(p[:])
			mu.Lock()
			got.Write(p[:n])
			mu.Unlock()
			if err != nil {
				select {
				case <-finished:
				default:
					close(finished)
				}
				return
			}
			if n == 0 {
				return
			}
		}
	})
	go func() {
		p := want.Bytes()
		for k := 0; len(p) > 0; k++ {
			n := min(len(p), 1+k*37%3000)
			if _, err := a.Write(p[:n]); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			p = p[n:]
			if k%8 == 0 {
				time.Sleep(50 * time.Microsecond) // reads wait for the network
			}
		}
		a.CloseWrite()
	}()
	for {
		select {
		case <-finished:
		default:
			done := make(chan struct{}, 1)
			go func() {
				time.Sleep(time.Duration(1+len(want.Bytes())%3) * 20 * time.Microsecond)
				done <- struct{}{}
				c.Wake()
			}()
			c.ReadUntil(done)
			continue
		}
		break
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("got %d bytes, want %d; they differ", got.Len(), want.Len())
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// inliner is an Inliner from a function.
type inliner func(Lease)

func (f inliner) RunInline(l Lease) { f(l) }

// An Inliner arranged by a receive function runs on the reader's goroutine
// after the frame. One that blocks until more input comes has the role taken
// from it by the session's watch: the input it waits for is read by another
// goroutine, and its Lease reports it taken and held. One that returns at
// once keeps the role.
func TestInlineTakenWhenItHoldsTheReader(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	release := make(chan struct{})
	started := make(chan struct{})
	type result struct {
		taken    bool
		onReader bool
		held     bool
	}
	results := make(chan result, 2)
	s.SetAcceptFunc(func(st *Stream) {
		st.SetReceiveFunc(func(p []byte) int {
			reader := goid()
			switch string(p) {
			case "block":
				if !s.Inline(inliner(func(l Lease) {
					on := goid() == reader
					close(started)
					<-release
					results <- result{l.Taken(), on, l.Held()}
				})) {
					t.Error("Inline refused with nothing more in hand")
				}
			case "quick":
				if !s.Inline(inliner(func(l Lease) { results <- result{l.Taken(), goid() == reader, false} })) {
					t.Error("Inline refused with nothing more in hand")
				}
			case "release":
				close(release)
			}
			return len(p)
		})
	})
	send := func(msg string) { sendOnNewStream(ctx, t, c, msg) }
	send("quick")
	if r := <-results; r.taken || !r.onReader {
		t.Fatalf("quick inliner: taken %v, on the reader %v", r.taken, r.onReader)
	}
	send("block")
	<-started
	send("release") // read only once the role was taken from the blocked inliner
	select {
	case r := <-results:
		if !r.taken || !r.onReader || !r.held {
			t.Fatalf("blocked inliner: taken %v, on the reader %v, held %v", r.taken, r.onReader, r.held)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked inliner's input was never read")
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := s.Ping(ctx); err != nil {
		t.Fatalf("ping from the inliner's side: %v", err)
	}
}

// An Inliner that waits through its Lease reads the input itself, on its
// goroutine, and is not taken however long it waits.
func TestLeaseReadsForTheInliner(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	reply := make(chan struct{}, 1)
	var replyOn atomic.Value
	results := make(chan string, 1)
	s.SetAcceptFunc(func(st *Stream) {
		st.SetReceiveFunc(func(p []byte) int {
			switch string(p) {
			case "start":
				s.Inline(inliner(func(l Lease) {
					l.ReadUntil(reply)
					if l.Taken() {
						results <- "taken"
						return
					}
					if replyOn.Load() != goid() {
						results <- "the reply was read on another goroutine"
						return
					}
					results <- ""
				}))
			case "reply":
				replyOn.Store(goid())
				reply <- struct{}{}
			}
			return len(p)
		})
	})
	for _, msg := range []string{"start", "reply"} {
		st, err := c.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if msg == "start" {
			time.Sleep(3 * lendWatch) // the watch ticks meanwhile
		}
	}
	select {
	case r := <-results:
		if r != "" {
			t.Fatal(r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the inliner never had its reply")
	}
	if _, err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// The linger's timer, started when a ReadUntil reader gives the role up,
// keeps ticking when the next ReadUntil takes the role soon after the one
// before (one start serves many round trips), and is stopped when round
// trips are longer than the linger, where it would otherwise tick inside
// each one while the role is held.
func TestLingerTimerStoppedInSlowRoundTrips(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	// The timer starts at the second round's end (the first round's giving
	// up counts as slow, the role never given up before it, so the second
	// round stops the timer it started), and the third round looks at it
	// about 20 ms into its round trip. The linger
	// is long beside that: a loaded machine (the race detector, other
	// packages' tests) can stretch those 20 ms by a good part of a second,
	// and a timer that ticks while the third round holds the role stops as
	// tookRole would.
	const linger = time.Second
	c.role.mu.Lock()
	c.role.lingerFor = linger
	c.role.mu.Unlock()
	var delay atomic.Int64
	s.SetAcceptFunc(func(st *Stream) {
		st.SetReceiveFunc(func(p []byte) int {
			b := bytes.Clone(p)
			go func() {
				time.Sleep(time.Duration(delay.Load()))
				if _, err := st.Write(b); err != nil {
					t.Errorf("echo: %v", err)
				}
			}()
			return len(p)
		})
	})
	st, err := c.Open(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	st.SetReceiveFunc(func(p []byte) int {
		done <- struct{}{}
		return len(p)
	})
	// round makes one round trip answered after d and reports whether the
	// linger's timer ran 20 ms into it.
	round := func(d time.Duration) bool {
		delay.Store(int64(d))
		if _, err := st.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		ran := make(chan bool, 1)
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.role.mu.Lock()
			ran <- c.role.lingering
			c.role.mu.Unlock()
		}()
		c.ReadUntil(done)
		return <-ran
	}
	round(0)
	round(0)
	if !round(100 * time.Millisecond) {
		t.Error("the linger's timer was stopped in a round trip begun soon after the last")
	}
	round(linger + 50*time.Millisecond) // the role given up twice, further apart than the linger
	if round(100 * time.Millisecond) {
		t.Error("the linger's timer ran in a round trip after one longer than the linger")
	}
}

// An Inliner that runs longer than lendLimit counts as holding the reader
// up only if input came meanwhile, which it kept waiting: alone on its
// connection it held nobody up.
func TestInlineHeldOnlyWithInputWaiting(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	started, sent := make(chan struct{}), make(chan struct{})
	held := make(chan bool, 1)
	s.SetAcceptFunc(func(st *Stream) {
		st.SetReceiveFunc(func(p []byte) int {
			switch string(p) {
			case "alone":
				s.Inline(inliner(func(l Lease) {
					time.Sleep(5 * lendLimit)
					held <- l.Held()
				}))
			case "beside":
				s.Inline(inliner(func(l Lease) {
					close(started)
					<-sent
					time.Sleep(5 * lendLimit) // the input arrives
					held <- l.Held()
				}))
			}
			return len(p)
		})
	})
	send := func(msg string) { sendOnNewStream(ctx, t, c, msg) }
	send("alone")
	if <-held {
		t.Error("an Inliner with no input waiting counted as holding the reader up")
	}
	send("beside")
	<-started
	send("more")
	close(sent)
	if !<-held {
		t.Error("an Inliner that kept input waiting did not count as holding the reader up")
	}
}

// sendOnNewStream opens a stream of c's and writes msg on it.
func sendOnNewStream(ctx context.Context, t *testing.T, c *Session, msg string) {
	t.Helper()
	st, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}
