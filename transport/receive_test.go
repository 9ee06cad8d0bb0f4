package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
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
