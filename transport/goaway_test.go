package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A stream opened before GOAWAY reaches the peer even though GOAWAY is a
// control frame: it never overtakes the SYN of a stream opened before it.
func TestGoAwayDoesNotOvertakeEarlierStreams(t *testing.T) {
	for range 20 {
		c, s := sessionPair(t, nil, nil)
		ctx := testCtx(t)
		st, err := c.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("opened before")); err != nil {
			t.Fatal(err)
		}
		if err := c.GoAway(); err != nil {
			t.Fatal(err)
		}
		in, err := s.Accept(ctx)
		if err != nil {
			t.Fatalf("stream opened before GOAWAY was not delivered: %v", err)
		}
		buf := make([]byte, 13)
		if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "opened before" {
			t.Fatalf("read %q, %v", buf, err)
		}
		c.Close()
		if _, err := s.Accept(ctx); err == nil {
			t.Fatal("second Accept returned a stream nobody opened")
		}
		s.Close()
	}
}

// Data written before CloseWithError is flushed ahead of the final GOAWAY,
// and the peer reads it before the error. The closing side must not close its
// socket while frames from the peer sit unread in it (the kernel would reset
// the connection and drop the unsent end of the data): that showed in about
// one try in a hundred, hence the repetitions.
func TestCloseWithErrorFlushesData(t *testing.T) {
	payload := make([]byte, 200<<10)
	for i := range payload {
		payload[i] = byte(i)
	}
	for try := range 20 {
		c, s := sessionPair(t, nil, nil)
		ctx := testCtx(t)
		a, b := openAccept(t, c, s, "x")
		if _, err := a.Write(payload); err != nil {
			t.Fatal(err)
		}
		c.CloseWithError(errors.New("bye"))
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatalf("try %d: data written before CloseWithError: %v", try, err)
		}
		for i := range got {
			if got[i] != payload[i] {
				t.Fatalf("try %d: byte %d differs", try, i)
			}
		}
		<-s.Done()
		if _, err := s.Open(ctx); err == nil {
			t.Fatal("Open on a closed session succeeded")
		}
	}
}

// A session that ends on a protocol error still delivers what it had queued
// and the GOAWAY saying why, even though the peer sent more after the bad
// frame and reads slowly: it reads and discards the peer's input while it
// flushes, so that closing does not reset the connection and drop the end.
func TestProtocolErrorDeliversGoAwayAfterUnreadInput(t *testing.T) {
	payload := make([]byte, 256<<10)
	for i := range payload {
		payload[i] = byte(i)
	}
	for try := range 3 {
		s, p := newRawClient(t, nil)
		p.conn.(*net.TCPConn).SetReadBuffer(32 << 10)
		p.write(typeData, flagSYN, 1, nil)
		st, err := s.Accept(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(payload); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the kernel's buffers fill: the peer reads nothing yet
		junk := append(appendHeader(nil, frameType(9), 0, 0, 0), make([]byte, 64<<10)...)
		p.writeBytes(junk)
		pe := expectProtocolError(t, s)
		time.Sleep(100 * time.Millisecond) // the session closes meanwhile
		var got []byte
		for {
			f, err := p.read()
			if err != nil {
				t.Fatalf("try %d: after %d bytes of data: %v, before the GOAWAY", try, len(got), err)
			}
			if f.h.typ() == typeData && f.h.streamID() == 1 {
				got = append(got, f.payload...)
			}
			if f.h.typ() == typeGoAway {
				if code, reason := f.goAway(); code != GoAwayProtocolError || reason != pe.Reason {
					t.Fatalf("GOAWAY %v %q, want %v %q", code, reason, GoAwayProtocolError, pe.Reason)
				}
				break
			}
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("try %d: %d bytes of data before the GOAWAY, want the %d written", try, len(got), len(payload))
		}
	}
}
