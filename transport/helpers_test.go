package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns two ends of a real loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return client, r.c
}

// sessionPair runs the handshake over conns and returns both sessions; they
// are closed when the test ends.
func sessionPairOver(t testing.TB, cc, sc net.Conn, ccfg, scfg *Config) (client, server *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type res struct {
		s   *Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := Server(ctx, sc, scfg)
		ch <- res{s, err}
	}()
	client, err := Client(ctx, cc, ccfg)
	if err != nil {
		t.Fatal("client handshake:", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal("server handshake:", r.err)
	}
	t.Cleanup(func() { client.Close(); r.s.Close() })
	return client, r.s
}

func sessionPair(t testing.TB, ccfg, scfg *Config) (client, server *Session) {
	t.Helper()
	cc, sc := tcpPair(t)
	return sessionPairOver(t, cc, sc, ccfg, scfg)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openAccept opens a stream on a, writes msg to announce it, and accepts it
// on b.
func openAccept(t testing.TB, a, b *Session, msg string) (*Stream, *Stream) {
	t.Helper()
	ctx := testCtx(t)
	sa, err := a.Open(ctx)
	if err != nil {
		t.Fatal("open:", err)
	}
	if _, err := sa.Write([]byte(msg)); err != nil {
		t.Fatal("write:", err)
	}
	sb, err := b.Accept(ctx)
	if err != nil {
		t.Fatal("accept:", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(sb, buf); err != nil {
		t.Fatal("read:", err)
	}
	if string(buf) != msg {
		t.Fatalf("read %q, want %q", buf, msg)
	}
	return sa, sb
}

// waitDone waits for a session to end and returns its Err.
func waitDone(t testing.TB, s *Session, within time.Duration) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Err()
	case <-time.After(within):
		t.Fatalf("session still alive after %v", within)
		return nil
	}
}

// checkGoroutines fails if the goroutine count does not settle back to base.
func checkGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// echoStreams echoes every stream s accepts back to its peer, closing its
// write side after, until Accept fails; failed, if not nil, is told of each
// stream whose echo failed.
func echoStreams(ctx context.Context, s *Session, failed func(error)) {
	for {
		st, err := s.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			_, err := io.Copy(st, st)
			if err == nil {
				err = st.CloseWrite()
			}
			if err != nil && failed != nil {
				failed(err)
			}
		}()
	}
}
