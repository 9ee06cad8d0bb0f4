package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// TestIdleSessionGoroutines: once traffic stops, a session keeps one
// goroutine, its reader; the writer goroutine runs only while there is
// something to write.
func TestIdleSessionGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	c, s := sessionPair(t, nil, nil)
	ca, sb := openAccept(t, c, s, "hello")
	ctx := testCtx(t)
	big := bytes.Repeat([]byte("x"), 1<<20)
	go func() {
		sb.Write(big) // a large write goes through the writer goroutine
		sb.WriteInline(ctx, []byte("end"))
	}()
	got := make([]byte, len(big)+3)
	if _, err := io.ReadFull(ca, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(big)], big) || string(got[len(big):]) != "end" {
		t.Fatal("data garbled")
	}
	checkGoroutines(t, base+2) // the two readers
}

// TestWriteInlineOrder: frames written inline (with and without headroom)
// and by the writer goroutine, mixed on one stream and across streams,
// arrive in order, and with nothing of the headroom.
func TestWriteInlineOrder(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	const streams, msgs = 4, 200
	done := make(chan error, streams)
	for i := range streams {
		ca, sb := openAccept(t, c, s, "x")
		go func() {
			for j := range msgs {
				msg := []byte{byte(i), byte(j)}
				var err error
				switch j % 3 {
				case 0:
					_, err = ca.Write(msg)
				case 1:
					_, err = ca.WriteInline(ctx, msg)
				default:
					headed := append(bytes.Repeat([]byte{0xee}, Headroom), msg...)
					_, err = ca.WriteInlineHeaded(ctx, headed)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		defer func() {
			got := make([]byte, 2*msgs)
			if _, err := io.ReadFull(sb, got); err != nil {
				t.Error(err)
				return
			}
			for j := range msgs {
				if got[2*j] != byte(i) || got[2*j+1] != byte(j) {
					t.Errorf("stream %d: message %d is %v", i, j, got[2*j:2*j+2])
					return
				}
			}
		}()
	}
	for range streams {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteInlineHeadedLarge: a headed write too large for one small frame
// goes the queued way, without its headroom.
func TestWriteInlineHeadedLarge(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	ca, sb := openAccept(t, c, s, "x")
	msg := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	headed := append(bytes.Repeat([]byte{0xee}, Headroom), msg...)
	done := make(chan error, 1)
	go func() {
		n, err := ca.WriteInlineHeaded(ctx, headed)
		if err == nil && n != len(msg) {
			err = fmt.Errorf("wrote %d bytes, want %d", n, len(msg))
		}
		done <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(sb, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the large headed write arrived changed")
	}
}

// TestAcceptFunc: with an accept function, streams the peer opened before it
// was set and after reach it, with their data, and AfterClose reports the
// session's end.
func TestAcceptFunc(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	first, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first.Write([]byte("1"))
	for s.NumStreams() == 0 {
		time.Sleep(time.Millisecond)
	}
	got := make(chan *Stream, 2)
	s.SetAcceptFunc(func(st *Stream) { got <- st })
	closed := make(chan error, 1)
	s.AfterClose(func(err error) { closed <- err })
	second, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second.Write([]byte("2"))
	for _, want := range []string{"1", "2"} {
		st := <-got
		b := make([]byte, 1)
		if _, err := io.ReadFull(st, b); err != nil || string(b) != want {
			t.Fatalf("stream read %q, %v; want %q", b, err, want)
		}
	}
	c.Close()
	select {
	case err := <-closed:
		if !errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("AfterClose got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AfterClose not called")
	}
}

// TestCloseDuringInlineWrite: a session closed while a sender writes a frame
// itself still closes its connection: the peer sees the end.
func TestCloseDuringInlineWrite(t *testing.T) {
	for range 30 {
		c, s := sessionPair(t, nil, nil)
		ca, _ := openAccept(t, c, s, "x")
		ctx := testCtx(t)
		stop := make(chan struct{})
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := ca.WriteInline(ctx, []byte("ping")); err != nil {
					return
				}
			}
		}()
		time.Sleep(time.Millisecond)
		c.Close()
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the peer never saw the closed session's end")
		}
		close(stop)
		<-wrote
	}
}
