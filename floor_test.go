package firefly_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// countingListener counts the bytes its connections read and write.
type countingListener struct {
	net.Listener
	read, written *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.read, l.written}, nil
}

type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// callSeqSizes returns the bytes a CallSeq call puts on the wire: the
// request the server reads and the answer it writes, averaged over a
// number of calls made after the connection has settled.
func callSeqSizes(tb testing.TB) (req, resp int) {
	tb.Helper()
	srv, err := rpc.NewServer(Service{})
	if err != nil {
		tb.Fatal(err)
	}
	var read, written atomic.Int64
	ln := listen(tb)
	go srv.Serve(countingListener{ln, &read, &written})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	call := func(i int) {
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{i, 1}); err != nil || n != i+1 {
			tb.Fatalf("add = %d, %v", n, err)
		}
	}
	for i := range 100 { // the first calls carry the type definitions
		call(i)
	}
	const calls = 1000
	r0, w0 := read.Load(), written.Load()
	for i := range calls {
		call(100 + i)
	}
	return int((read.Load() - r0) / calls), int((written.Load() - w0) / calls)
}

// pingPong is a loopback TCP connection whose far end answers each request
// of req bytes with resp bytes.
type pingPong struct {
	c       net.Conn
	out, in []byte
	done    sync.WaitGroup
}

// newPingPong starts the far end of a ping-pong; Close ends it.
func newPingPong(tb testing.TB, req, resp int) *pingPong {
	tb.Helper()
	ln := listen(tb)
	p := &pingPong{out: make([]byte, req), in: make([]byte, resp)}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		c := accept(tb, ln)
		if c == nil {
			return
		}
		defer c.Close()
		in, out := make([]byte, req), make([]byte, resp)
		for {
			if _, err := io.ReadFull(c, in); err != nil {
				return // the client closed
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	p.c = dial(tb, ln)
	return p
}

// accept accepts one connection on ln; nil, with the test failed, when it
// cannot.
func accept(tb testing.TB, ln net.Listener) net.Conn {
	c, err := ln.Accept()
	if err != nil {
		tb.Error(err)
		return nil
	}
	return c
}

// dial connects to ln.
func dial(tb testing.TB, ln net.Listener) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// trip makes one round trip.
func (p *pingPong) trip() error {
	if _, err := p.c.Write(p.out); err != nil {
		return err
	}
	_, err := io.ReadFull(p.c, p.in)
	return err
}

// Close closes the connection and waits for the far end to finish.
func (p *pingPong) Close() {
	p.c.Close()
	p.done.Wait()
}

// BenchmarkTCPPingPong is the floor of BenchmarkCallSeq: one goroutine
// writes a request of the size a CallSeq call's request takes on the wire
// to a loopback TCP connection, and another reads it in full and writes
// back an answer of the size of CallSeq's answer. It reports the two sizes.
func BenchmarkTCPPingPong(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	req, resp := callSeqSizes(b)
	p := newPingPong(b, req, resp)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.trip(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p.Close()
	b.ReportMetric(float64(req), "req-bytes")
	b.ReportMetric(float64(resp), "resp-bytes")
}

// BenchmarkTCPPingPongHandOff is TCPPingPong with the structure every
// multiplexing RPC system here has (net/rpc, arpc, firefly): each side reads
// its connection on a goroutine of its own and hands what it read to another
// over a channel. The far end's reader hands the request to a goroutine that
// writes the answer; the near end's reader hands the answer to the caller.
// Its time over TCPPingPong's is what two goroutine hand-offs a round trip
// cost on the machine, with no other work of an RPC system's: on a virtual
// machine a hand-off that wakes the other processor costs far more than the
// channel operation.
func BenchmarkTCPPingPongHandOff(b *testing.B) { handOffPingPong(b, true, true) }

// BenchmarkTCPPingPongHandOffFar is TCPPingPongHandOff with the far end's
// hand-off alone: the caller reads its own answer, as a design whose waiting
// caller reads the connection itself would.
func BenchmarkTCPPingPongHandOffFar(b *testing.B) { handOffPingPong(b, true, false) }

// BenchmarkTCPPingPongHandOffNear is TCPPingPongHandOff with the near end's
// hand-off alone: the far end's reader writes the answer itself, as a design
// running handlers on the reader would.
func BenchmarkTCPPingPongHandOffNear(b *testing.B) { handOffPingPong(b, false, true) }

// handOffPingPong runs TCPPingPong's round trips with a goroutine hand-off
// at the far end (its reader passes the request to the goroutine that
// answers) when far is set, and at the near end (its reader passes the
// answer to the caller) when near is.
func handOffPingPong(b *testing.B, far, near bool) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	req, resp := callSeqSizes(b)
	ln := listen(b)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := accept(b, ln)
		if c == nil {
			return
		}
		defer c.Close()
		out := make([]byte, resp)
		write := func() error {
			_, err := c.Write(out)
			return err
		}
		answer := write
		if far {
			reqs := make(chan struct{})
			defer close(reqs)
			go func() {
				for range reqs {
					if write() != nil {
						return
					}
				}
			}()
			answer = func() error { reqs <- struct{}{}; return nil }
		}
		in := make([]byte, req)
		for {
			if _, err := io.ReadFull(c, in); err != nil {
				return // the client closed
			}
			if answer() != nil {
				return
			}
		}
	}()
	c := dial(b, ln)
	in := make([]byte, resp)
	read := func() error {
		_, err := io.ReadFull(c, in)
		return err
	}
	wait := read
	answers := make(chan error)
	if near {
		go func() {
			for {
				err := read()
				answers <- err
				if err != nil {
					return
				}
			}
		}()
		wait = func() error { return <-answers }
	}
	out := make([]byte, req)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		if err := wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	if near {
		<-answers
	}
	wg.Wait()
}

// BenchmarkCallSeqFloorPair times a CallSeq call and a raw TCP round trip
// of the same sizes alternately in one loop, so that both see the same
// moment of a loaded machine, and reports their medians and the ratio of
// the medians (ratio) and of the means (mean-ratio).
func BenchmarkCallSeqFloorPair(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	req, resp := callSeqSizes(b)
	conn := firefly(b)
	p := newPingPong(b, req, resp)
	defer p.Close()
	ctx := context.Background()
	var seq, tcp []time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{i, 1}); err != nil || n != i+1 {
			b.Fatalf("add = %d, %v", n, err)
		}
		t1 := time.Now()
		if err := p.trip(); err != nil {
			b.Fatal(err)
		}
		seq, tcp = append(seq, t1.Sub(t0)), append(tcp, time.Since(t1))
	}
	b.StopTimer()
	ms, mt := sumOf(seq), sumOf(tcp)
	slices.Sort(seq)
	slices.Sort(tcp)
	b.ReportMetric(float64(seq[len(seq)/2].Nanoseconds()), "seq-p50-ns")
	b.ReportMetric(float64(tcp[len(tcp)/2].Nanoseconds()), "tcp-p50-ns")
	b.ReportMetric(float64(seq[len(seq)/2])/float64(tcp[len(tcp)/2]), "ratio")
	b.ReportMetric(float64(ms)/float64(mt), "mean-ratio")
}

func sumOf(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// BenchmarkTCPPingPongUnderBulk is CallUnderBulk's floor: TCPPingPong's
// round trips, timed while another loopback TCP connection of the same
// process echoes 16 MiB messages (the far end reads each whole, then writes
// it back, as the echo handler does). Neither shares a connection with the
// other, so no byte of the bulk transfer queues ahead of a round trip: what
// the percentiles show is what the bulk transfer's work on the machine's
// cores alone costs a small round trip.
func BenchmarkTCPPingPongUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	req, resp := callSeqSizes(b)
	p := newPingPong(b, req, resp)
	defer p.Close()
	ln := listen(b)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 16*mib)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	bulk, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	underBulk(b, p.trip, func(payload []byte) error {
		if _, err := bulk.Write(payload); err != nil {
			return err
		}
		_, err := io.ReadFull(bulk, payload)
		return err
	})
	bulk.Close()
}

// muxFloor is the floor of BenchmarkCallParallel and BenchmarkCall10kParallel:
// many callers share one loopback TCP connection, written by hand for the one
// call with nothing of firefly's. A request is [caller id, a, b] and its answer
// [caller id, a+b], 8 bytes each. Callers append their requests to a shared
// buffer under a lock, and a writer goroutine writes whatever has gathered in
// one syscall; a reader goroutine hands each answer to its caller's channel.
// The far end answers on its reader, all the requests of one read in one
// write, with no goroutine per call.
type muxFloor struct {
	c       net.Conn
	answers []chan int64 // by caller id

	mu      sync.Mutex
	pending []byte
	spare   []byte
	kick    chan struct{}
	done    sync.WaitGroup
}

func newMuxFloor(tb testing.TB, callers int) *muxFloor {
	tb.Helper()
	ln := listen(tb)
	f := &muxFloor{answers: make([]chan int64, callers), kick: make(chan struct{}, 1)}
	for i := range f.answers {
		f.answers[i] = make(chan int64, 1)
	}
	f.done.Add(3)
	go func() { // the far end
		defer f.done.Done()
		c := accept(tb, ln)
		if c == nil {
			return
		}
		defer c.Close()
		var out []byte
		readFrames(c, 24, func(reqs []byte) error {
			out = out[:0]
			for r := range slices.Chunk(reqs, 24) {
				sum := int64(binary.LittleEndian.Uint64(r[8:])) + int64(binary.LittleEndian.Uint64(r[16:]))
				out = append(out, r[:8]...)
				out = binary.LittleEndian.AppendUint64(out, uint64(sum))
			}
			_, err := c.Write(out)
			return err
		})
	}()
	c := dial(tb, ln)
	f.c = c
	go func() { // the caller side's reader
		defer f.done.Done()
		readFrames(c, 16, func(answers []byte) error {
			for a := range slices.Chunk(answers, 16) {
				f.answers[binary.LittleEndian.Uint64(a)] <- int64(binary.LittleEndian.Uint64(a[8:]))
			}
			return nil
		})
	}()
	go func() { // the caller side's writer
		defer f.done.Done()
		for range f.kick {
			f.mu.Lock()
			out := f.pending
			f.pending = f.spare[:0]
			f.mu.Unlock()
			if _, err := c.Write(out); err != nil {
				return
			}
			f.spare = out
		}
	}()
	tb.Cleanup(func() {
		close(f.kick)
		c.Close()
		f.done.Wait()
	})
	return f
}

// readFrames reads c until it fails, handing the whole frames of size bytes
// each read completes to handle, together, until handle fails.
func readFrames(c net.Conn, size int, handle func(frames []byte) error) {
	in := make([]byte, 64<<10)
	have := 0
	for {
		n, err := c.Read(in[have:])
		if err != nil {
			return
		}
		have += n
		whole := have - have%size
		if err := handle(in[:whole]); err != nil {
			return
		}
		have = copy(in, in[whole:have])
	}
}

// add makes caller id's call of a+b.
func (f *muxFloor) add(id int, a, b int64) int64 {
	f.mu.Lock()
	first := len(f.pending) == 0
	f.pending = binary.LittleEndian.AppendUint64(f.pending, uint64(id))
	f.pending = binary.LittleEndian.AppendUint64(f.pending, uint64(a))
	f.pending = binary.LittleEndian.AppendUint64(f.pending, uint64(b))
	f.mu.Unlock()
	if first {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	return <-f.answers[id]
}

// muxFloorAdds runs muxFloor's add as parallelAdds runs firefly's, each
// caller goroutine with an id of its own.
func muxFloorAdds(b *testing.B, callers int) {
	per := (callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	f := newMuxFloor(b, per*runtime.GOMAXPROCS(0))
	var ids atomic.Int64
	parallelAdds(b, callers, func() func(*int) error {
		id := int(ids.Add(1) - 1)
		return func(n *int) error {
			*n = int(f.add(id, 1, 2))
			return nil
		}
	})
}

// BenchmarkMuxFloorParallel is muxFloor with CallParallel's 64 callers.
func BenchmarkMuxFloorParallel(b *testing.B) { muxFloorAdds(b, 64) }

// BenchmarkMuxFloor10kParallel is muxFloor with Call10kParallel's 10,000
// callers: what 10,000 goroutines cost over 64 with nothing but a
// connection's reader, a writer and the callers' channels between them.
func BenchmarkMuxFloor10kParallel(b *testing.B) { muxFloorAdds(b, 10000) }

// BenchmarkMuxFloor10kCallers is muxFloor with Call10kCallers' bursts: in
// each iteration 10,000 freshly started goroutines make one call each, and
// every answer is checked. It reports calls/s over the bursts and the CPU
// time per call: what starting, scheduling and ending 10,000 goroutines adds
// to a call with nothing of firefly's.
func BenchmarkMuxFloor10kCallers(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	const callers = 10000
	f := newMuxFloor(b, callers)
	bursts(b, callers, func(i int) (int, error) { return int(f.add(i, int64(i), 1)), nil })
}

// BenchmarkBurstsAlone is the bursts' own cost, the floor under
// BenchmarkCall10kCallers' and BenchmarkMuxFloor10kCallers': in each
// iteration 10,000 freshly started goroutines return at once, with no call,
// started, waited for and checked as those benchmarks' callers are.
func BenchmarkBurstsAlone(b *testing.B) {
	bursts(b, 10000, func(i int) (int, error) { return i + 1, nil })
}
