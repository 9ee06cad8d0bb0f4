package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A consumer registered with SetReadNotify is told of each arrival on the
// reader goroutine and takes the data with TryRead; Buffered reports what is
// there and, after the peer's FIN, io.EOF.
func TestReadNotify(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "hello")
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, _ := b.Buffered(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the early byte never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan string, 16)
	b.SetReadNotify(func(more bool) {
		n, end := b.Buffered()
		if n > 0 {
			p := make([]byte, n)
			if k, err := b.TryRead(p); err != nil || k != n {
				t.Errorf("TryRead = %d, %v; want %d bytes", k, err, n)
			}
			got <- string(p)
		}
		if end != nil {
			got <- "end: " + end.Error()
		}
	})
	// "x" arrived before the registration: no call for it.
	var x [1]byte
	if n, err := b.TryRead(x[:]); n != 1 || err != nil || x[0] != 'x' {
		t.Fatalf("TryRead of the early byte = %d, %v, %q", n, err, x[:n])
	}
	if n, err := b.TryRead(x[:]); n != 0 || err != nil {
		t.Fatalf("TryRead with nothing buffered = %d, %v; want 0, nil", n, err)
	}
	for _, m := range []string{"one", "two"} {
		if _, err := a.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if g != m {
				t.Fatalf("notified with %q, want %q", g, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no notification for %q", m)
		}
	}
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != "end: "+io.EOF.Error() {
			t.Fatalf("after FIN: %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification for the FIN")
	}
	if n, err := b.Buffered(); n != 0 || err != io.EOF {
		t.Fatalf("Buffered after FIN = %d, %v", n, err)
	}
}

// A reset from the peer is notified too, and TryRead then reports it.
func TestReadNotifyReset(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "x")
	reset := make(chan error, 1)
	b.SetReadNotify(func(bool) {
		if _, err := b.TryRead(make([]byte, 8)); err != nil {
			reset <- err
		}
	})
	a.Reset()
	select {
	case err := <-reset:
		var re *StreamResetError
		if !errors.As(err, &re) || !re.Remote {
			t.Fatalf("TryRead after reset = %v; want a remote *StreamResetError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification for the reset")
	}
}

// A large payload read straight from the connection arrives whole even when
// the peer writes it in small pieces, and a connection cut inside one ends
// the session with ErrConnectionLost.
func TestLargePayloadInPieces(t *testing.T) {
	s, p := newRawClient(t, nil)
	payload := make([]byte, 12<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frame := append(appendHeader(nil, typeData, flagSYN, 1, uint32(len(payload))), payload...)
	for len(frame) > 0 {
		n := min(len(frame), 1000)
		p.writeBytes(frame[:n])
		frame = frame[n:]
		time.Sleep(time.Millisecond)
	}
	st, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(st, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("payload changed on the way")
	}

	// A second frame, cut short.
	p.writeBytes(appendHeader(nil, typeData, 0, 1, 8<<10))
	p.writeBytes(make([]byte, 5<<10))
	p.conn.Close()
	err = waitDone(t, s, 5*time.Second)
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "inside a frame payload") {
		t.Fatalf("session error %v, want ErrConnectionLost inside a frame payload", err)
	}
}

// A receive function registered with SetReceiveFunc is offered each payload
// while nothing is queued for the stream and takes what it wants of it where
// it lies; the rest is queued and read as usual, in order. The bytes it takes
// count as read for flow control: the peer sends many windows' worth.
func TestReceiveFunc(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "hello")
	// got, offers and held belong to b's reader goroutine, which runs both
	// functions; the test reads them once it is told (done) or waits for the
	// stream's state.
	var got bytes.Buffer
	var offers, held int
	var hold atomic.Bool
	var want atomic.Int64
	done := make(chan struct{}, 1)
	check := func() {
		if int64(got.Len()) == want.Load() {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}
	b.SetReceiveFunc(func(p []byte) int {
		offers++
		if hold.Load() {
			held++
			return 0
		}
		k := len(p)
		if offers%2 == 1 {
			k = len(p) / 2 // leave the rest to the queue
		}
		got.Write(p[:k])
		check()
		return k
	})
	b.SetReadNotify(func(bool) {
		if hold.Load() {
			return
		}
		var p [1 << 10]byte
		for {
			n, _ := b.TryRead(p[:])
			if n == 0 {
				break
			}
			got.Write(p[:n])
		}
		check()
	})
	wait := func(what string) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not all of the %d bytes arrived", what, want.Load())
		}
	}
	send := func(p []byte) {
		t.Helper()
		if _, err := a.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// Eight windows' worth in small writes (large payloads are not offered).
	var sent bytes.Buffer
	msgs := make([][]byte, 8*DefaultInitialWindow/1000)
	for i := range msgs {
		msgs[i] = make([]byte, 1000)
		for j := range msgs[i] {
			msgs[i][j] = byte(i*7 + j)
		}
		sent.Write(msgs[i])
	}
	want.Store(int64(sent.Len()))
	for _, m := range msgs {
		send(m)
	}
	wait("taken where they lay")
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatal("the bytes taken and read are not the bytes sent, in order")
	}
	if offers < 2 {
		t.Fatalf("%d payloads offered", offers)
	}

	// While bytes are queued, later payloads are not offered: they queue
	// behind them.
	hold.Store(true)
	for _, m := range []string{"one", "two", "three"} {
		send([]byte(m))
		sent.WriteString(m)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if n, _ := b.Buffered(); n == len("onetwothree") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held payloads never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	// Buffered's lock orders the reader's writes to held before this read.
	if held != 1 {
		t.Fatalf("%d payloads offered while one was queued, want only the first", held)
	}
	hold.Store(false)
	sent.WriteString("four")
	want.Store(int64(sent.Len()))
	send([]byte("four"))
	wait("after the hold")
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("after the hold: %q at the end, want %q", got.Bytes()[max(0, got.Len()-15):], sent.Bytes()[sent.Len()-15:])
	}
}
