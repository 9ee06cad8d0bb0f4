package transport

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// waitBuffered polls st.Buffered until want reports true; the deadline is a
// hang guard only.
func waitBuffered(t *testing.T, st *Stream, want func(n int, err error) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := st.Buffered()
		if want(n, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Buffered() = %d, %v: the expected state never came", n, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TryRead never waits: with nothing buffered on an open stream it returns 0
// and nil; it returns what arrived, and io.EOF after the peer's FIN.
// Buffered reports the same states without consuming, and net.ErrClosed
// once the stream is closed locally.
func TestTryReadAndBuffered(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "x")
	buf := make([]byte, 16)
	if n, err := b.TryRead(buf); n != 0 || err != nil {
		t.Fatalf("TryRead on an empty open stream = %d, %v; want 0, nil", n, err)
	}
	if n, err := b.Buffered(); n != 0 || err != nil {
		t.Fatalf("Buffered on an empty open stream = %d, %v; want 0, nil", n, err)
	}
	if _, err := a.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	waitBuffered(t, b, func(n int, err error) bool { return n == 3 && err == nil })
	if n, err := b.TryRead(buf); n != 3 || err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("TryRead = %d %q, %v; want 3 \"abc\", nil", n, buf[:n], err)
	}
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitBuffered(t, b, func(n int, err error) bool { return n == 0 && err == io.EOF })
	if n, err := b.TryRead(buf); n != 0 || err != io.EOF {
		t.Fatalf("TryRead after FIN = %d, %v; want 0, io.EOF", n, err)
	}
	b.Close()
	if n, err := b.Buffered(); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Buffered after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
}

// GoAwaySent and GoAwayReceived tell the two sides of a GOAWAY apart.
func TestGoAwaySentReceived(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	if c.GoAwaySent() || c.GoAwayReceived() || s.GoAwaySent() || s.GoAwayReceived() {
		t.Fatal("a fresh session reports a GOAWAY")
	}
	if err := c.GoAway(); err != nil {
		t.Fatal(err)
	}
	if !c.GoAwaySent() || c.GoAwayReceived() {
		t.Fatalf("sender: GoAwaySent %v, GoAwayReceived %v; want true, false", c.GoAwaySent(), c.GoAwayReceived())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.GoAwayReceived() {
		if time.Now().After(deadline) {
			t.Fatal("the peer never saw the GOAWAY")
		}
		time.Sleep(time.Millisecond)
	}
	if s.GoAwaySent() {
		t.Fatal("receiver: GoAwaySent true")
	}
}

// MaxOpen is the smaller of the two sides' MaxStreams, on both sides, and
// IsClient tells which side ran the handshake as the client.
func TestMaxOpenIsClient(t *testing.T) {
	c, s := sessionPair(t, &Config{MaxStreams: 5}, &Config{MaxStreams: 9})
	if c.MaxOpen() != 5 || s.MaxOpen() != 5 {
		t.Fatalf("MaxOpen: client %d, server %d; want 5, 5", c.MaxOpen(), s.MaxOpen())
	}
	if !c.IsClient() || s.IsClient() {
		t.Fatalf("IsClient: client %v, server %v", c.IsClient(), s.IsClient())
	}
}

// CloseGracefully ends the session at once as a normal end: locally Err
// matches ErrSessionClosed, the peer receives a GOAWAY and its session ends
// with an error matching ErrConnectionLost and ErrGoAway.
func TestCloseGracefully(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	openAccept(t, c, s, "x")
	if err := c.CloseGracefully("bye"); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, c, 10*time.Second); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("local Err %v, want ErrSessionClosed", err)
	}
	err := waitDone(t, s, 10*time.Second)
	if !errors.Is(err, ErrConnectionLost) || !errors.Is(err, ErrGoAway) {
		t.Fatalf("peer Err %v, want ErrConnectionLost and ErrGoAway", err)
	}
	if !s.GoAwayReceived() {
		t.Fatal("the peer's GoAwayReceived is false")
	}
}

// AfterGoAway runs f once a GOAWAY went out, and at once for a session that
// already sent one; it does not run f when the session ends on an error.
func TestAfterGoAway(t *testing.T) {
	c, _ := sessionPair(t, nil, nil)
	if err := c.GoAway(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	c.AfterGoAway(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("AfterGoAway after a GOAWAY did not run f")
	}

	e, _ := sessionPair(t, nil, nil)
	ranOnError := make(chan struct{})
	e.AfterGoAway(func() { close(ranOnError) })
	e.CloseWithError(errors.New("failure"))
	waitDone(t, e, 10*time.Second)
	select {
	case <-ranOnError:
		t.Fatal("AfterGoAway ran f for a session that ended on an error")
	case <-time.After(50 * time.Millisecond):
	}
}

// Stats count frame bytes, headers included: what one side wrote is what
// the other read.
func TestStats(t *testing.T) {
	c, s := sessionPair(t, &Config{}, &Config{}) // keepalive off: no PING in the counts
	if st := c.Stats(); st.BytesIn != 0 || st.BytesOut != 0 {
		t.Fatalf("fresh session Stats %+v, want zero (the preface is not counted)", st)
	}
	openAccept(t, c, s, "hello")
	if out := c.Stats().BytesOut; out < headerLen+5 {
		t.Fatalf("BytesOut %d after a 5-byte frame, want at least %d", out, headerLen+5)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().BytesIn != c.Stats().BytesOut {
		if time.Now().After(deadline) {
			t.Fatalf("server BytesIn %d, client BytesOut %d", s.Stats().BytesIn, c.Stats().BytesOut)
		}
		time.Sleep(time.Millisecond)
	}
}

// Conn returns the session's connection, and a stream's Session its session.
func TestConnAndSession(t *testing.T) {
	cc, sc := tcpPair(t)
	c, s := sessionPairOver(t, cc, sc, nil, nil)
	if c.Conn() != cc || s.Conn() != sc {
		t.Fatal("Conn does not return the session's connection")
	}
	a, b := openAccept(t, c, s, "x")
	if a.Session() != c || b.Session() != s {
		t.Fatal("Stream.Session does not return the stream's session")
	}
}
