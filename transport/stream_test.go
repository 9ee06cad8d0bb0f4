package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// A small message written after a 16 MiB write on another stream is sent
// before the big one is: the writer round-robins frames across streams. The
// raw peer grants a huge window and does not read until both writes are
// queued, so the order on the wire is decided by the scheduler alone.
func TestFairnessSmallOvertakesLarge(t *testing.T) {
	const big = 16 << 20
	s, p := newRawServer(t, nil, rawSettings())
	// Small kernel buffers, so the bulk transfer cannot hide in them.
	s.conn.(*net.TCPConn).SetWriteBuffer(64 << 10)
	p.conn.(*net.TCPConn).SetReadBuffer(64 << 10)
	ctx := testCtx(t)
	bulk, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bulk.Write(make([]byte, big)); err != nil {
		t.Fatal(err)
	}
	if _, err := small.Write([]byte("urgent")); err != nil {
		t.Fatal(err)
	}
	bulkBefore := 0
	maxFrame := 0
	for {
		f := p.next()
		if f.h.typ() != typeData {
			t.Fatalf("unexpected frame %v", &f.h)
		}
		if int(f.h.length()) > maxFrame {
			maxFrame = int(f.h.length())
		}
		if f.h.streamID() == small.ID() && len(f.payload) > 0 {
			if string(f.payload) != "urgent" {
				t.Fatalf("small stream payload %q", f.payload)
			}
			break
		}
		bulkBefore += len(f.payload)
	}
	t.Logf("small message overtook %d of %d bulk bytes", big-bulkBefore, big)
	// What was sent before it is at most what the kernel buffers held when it
	// was queued plus a batch or two; far less than the whole transfer.
	if bulkBefore > 2<<20 {
		t.Fatalf("small message came after %d of %d bulk bytes", bulkBefore, big)
	}
	if maxFrame > DefaultMaxFrameSize {
		t.Fatalf("frame of %d bytes exceeds the peer's max frame size", maxFrame)
	}
}

// A stream whose reader never reads stops its writer at exactly one window
// and does not stall other streams; the receiver buffers at most a window.
func TestFlowControlNonReadingStream(t *testing.T) {
	const window = 256 << 10
	cfg := &Config{InitialWindow: window}
	c, s := sessionPair(t, cfg, cfg)
	stuck, stuckPeer := openAccept(t, c, s, "x")

	// Fill the stuck stream: Write queues exactly one window, then blocks.
	stuck.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := stuck.Write(make([]byte, 4*window))
	if !isTimeout(err) {
		t.Fatalf("write err %v, want a timeout", err)
	}
	if n != window-1 { // one byte of the window went to the opening "x"
		t.Fatalf("wrote %d bytes before blocking, want %d", n, window-1)
	}

	// Another stream moves 8 windows' worth meanwhile.
	a, b := openAccept(t, c, s, "y")
	msg := bytes.Repeat([]byte("0123456789abcdef"), window/2)
	go func() {
		a.Write(msg)
		a.CloseWrite()
	}()
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("other stream: %d bytes, %v", len(got), err)
	}

	// The receiver holds the stuck stream's data, bounded by its window.
	stuckPeer.rmu.Lock()
	buffered := stuckPeer.rlen
	stuckPeer.rmu.Unlock()
	if buffered > window {
		t.Fatalf("receiver buffers %d bytes, window is %d", buffered, window)
	}

	// Reading releases the writer.
	stuck.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, stuckPeer)
	if _, err := stuck.Write(make([]byte, 4*window)); err != nil {
		t.Fatal(err)
	}
}

func TestHalfClose(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "request")
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("more")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
	// The peer sees EOF after the data...
	if n, err := b.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("peer read after FIN: %d, %v", n, err)
	}
	// ...and can still answer.
	if _, err := b.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	b.CloseWrite()
	got, err := io.ReadAll(a)
	if err != nil || string(got) != "response" {
		t.Fatalf("got %q, %v", got, err)
	}
	waitStreams(t, c, 0)
	waitStreams(t, s, 0)
}

// waitStreams waits until s has n open streams.
func waitStreams(t testing.TB, s *Session, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.NumStreams() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("NumStreams %d, want %d", s.NumStreams(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStreamClose(t *testing.T) {
	c, s := sessionPair(t, &Config{InitialWindow: 64 << 10}, &Config{InitialWindow: 64 << 10})
	a, b := openAccept(t, c, s, "x")
	// b stops reading: a's later writes are discarded but never stall.
	b.Close()
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if _, err := a.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal("write to a closed reader stalled or failed:", err)
	}
	if _, err := io.ReadAll(a); err != nil { // b's FIN
		t.Fatal(err)
	}
	a.Close()
	waitStreams(t, c, 0)
	waitStreams(t, s, 0)
}

func TestReset(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "x")
	readErr := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 10))
		readErr <- err
	}()
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	err := <-readErr
	var re *StreamResetError
	if !errors.Is(err, ErrStreamReset) || !errors.As(err, &re) || !re.Remote || re.Code != ResetCancel {
		t.Fatalf("peer read after reset: %v", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, ErrStreamReset) {
		t.Fatalf("peer write after reset: %v", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, ErrStreamReset) {
		t.Fatalf("local read after reset: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, ErrStreamReset) {
		t.Fatalf("local write after reset: %v", err)
	}
	waitStreams(t, c, 0)
	waitStreams(t, s, 0)
	// The session is unharmed.
	openAccept(t, c, s, "still works")
}

// Reset aborts a writer blocked on the window on both sides.
func TestResetUnblocksWriter(t *testing.T) {
	cfg := &Config{InitialWindow: 64 << 10}
	c, s := sessionPair(t, cfg, cfg)
	a, b := openAccept(t, c, s, "x")
	werr := make(chan error, 1)
	go func() {
		_, err := a.Write(make([]byte, 1<<20))
		werr <- err
	}()
	b.Reset()
	if err := <-werr; !errors.Is(err, ErrStreamReset) {
		t.Fatalf("blocked write after peer reset: %v", err)
	}
}

func TestDeadlines(t *testing.T) {
	cfg := &Config{InitialWindow: 64 << 10}
	c, s := sessionPair(t, cfg, cfg)
	a, b := openAccept(t, c, s, "x")

	// Read deadline in the future fires while blocked.
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := a.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
		t.Fatalf("read: %v, want os.ErrDeadlineExceeded", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatalf("read deadline fired early, after %v", time.Since(start))
	}
	// A past deadline fails at once even with data available.
	b.Write([]byte("data"))
	a.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := a.Read(make([]byte, 4)); !isTimeout(err) {
		t.Fatalf("read with past deadline: %v", err)
	}
	// Clearing it makes the data readable again.
	a.SetReadDeadline(time.Time{})
	buf := make([]byte, 4)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "data" {
		t.Fatalf("read after clearing: %q, %v", buf, err)
	}

	// Write deadline fires while blocked on the window.
	a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := a.Write(make([]byte, 1<<20)); !isTimeout(err) {
		t.Fatalf("write: %v, want timeout", err)
	}
	// Extending a deadline while blocked takes effect.
	a.SetWriteDeadline(time.Now().Add(time.Hour))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := a.Write(make([]byte, 1<<20))
		if !isTimeout(err) {
			t.Errorf("write after shortening the deadline: %v", err)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	a.SetDeadline(time.Now().Add(10 * time.Millisecond))
	wg.Wait()
}

func TestGoAway(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	a, b := openAccept(t, c, s, "x")
	if err := c.GoAway(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(ctx); !errors.Is(err, ErrGoAway) {
		t.Fatalf("open after GoAway: %v", err)
	}
	for !s.GoAwayReceived() {
		time.Sleep(time.Millisecond)
	}
	// The peer may still open a stream (to finish its work), and the side
	// that sent GOAWAY accepts it.
	late, err := s.Open(ctx)
	if err != nil {
		t.Fatalf("peer open after GOAWAY: %v", err)
	}
	if _, err := late.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	in, err := c.Accept(ctx)
	if err != nil {
		t.Fatalf("accept after sending GOAWAY: %v", err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "answer" {
		t.Fatalf("%q, %v", buf, err)
	}
	// The open stream still works both ways.
	if _, err := b.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	buf = buf[:5]
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "reply" {
		t.Fatalf("%q, %v", buf, err)
	}
	select {
	case <-c.Done():
		t.Fatal("session closed while a stream was open")
	default:
	}
	a.Close()
	b.Close()
	late.Close()
	in.Close()
	if err := waitDone(t, c, 5*time.Second); !errors.Is(err, ErrGoAway) {
		t.Fatalf("client Err %v, want ErrGoAway", err)
	}
	if err := waitDone(t, s, 5*time.Second); !errors.Is(err, ErrGoAway) {
		t.Fatalf("server Err %v, want ErrGoAway", err)
	}
}

// GOAWAY stops new work, not the work in progress: a stream the peer opens
// after GOAWAY went out is accepted (it may carry answers), and functions
// registered with AfterGoAway run.
func TestGoAwayAcceptsPeerStreams(t *testing.T) {
	s, p := newRawClient(t, nil)
	ran := make(chan struct{})
	s.AfterGoAway(func() { close(ran) })
	p.write(typeData, flagSYN, 1, []byte("first"))
	st, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.GoAway(); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.expectGoAway(); code != GoAwayNormal {
		t.Fatalf("GOAWAY code %v", code)
	}
	<-ran
	p.write(typeData, flagSYN|flagFIN, 3, []byte("late"))
	st3, err := s.Accept(testCtx(t))
	if err != nil || st3.ID() != 3 {
		t.Fatalf("stream opened after GOAWAY: %v, %v", st3, err)
	}
	if b, err := io.ReadAll(st3); err != nil || string(b) != "late" {
		t.Fatalf("read %q, %v", b, err)
	}
	st3.Close()
	// Stream 1 finishes normally; then the session closes.
	p.write(typeData, flagFIN, 1, nil)
	st.Close()
	if err := waitDone(t, s, 5*time.Second); !errors.Is(err, ErrGoAway) {
		t.Fatalf("Err %v", err)
	}
}
