package netconnect

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// lostReason returns a channel receiving the reason of each lost session.
func lostReason(srv *Server) chan error {
	ch := make(chan error, 16)
	srv.OnLost(func(s *Session, err error) { ch <- err })
	return ch
}

func recvReason(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(hangGuard):
		t.Fatal("no session lost")
		return nil
	}
}

func TestIdleTimeout(t *testing.T) {
	logs := &logBuffer{}
	srv, addr := startServer(t, WithIdleTimeout(50*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	lost := lostReason(srv)
	c := dialRaw(t, addr)
	if err := recvReason(t, lost); !errors.Is(err, ErrIdle) {
		t.Fatalf("reason %v, want ErrIdle", err)
	}
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %d, %v; want EOF", n, err)
	}
	if st := srv.Stats(); st.Closed["idle"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "reason=\"netconnect: session idle\"") {
		t.Fatalf("log: %s", l)
	}
}

func TestMaxBodyClosesBeforeTheBody(t *testing.T) {
	srv, addr := startServer(t, WithMaxBody(1000))
	lost := lostReason(srv)
	c := dialRaw(t, addr)
	var d Datapack
	var h [HeaderSize]byte
	d.PutHeader(&h, 1, 1001) // announce 1001 bytes; send none of them
	c.Write(h[:])
	err := recvReason(t, lost)
	var he *HeaderError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &he) || he.Got != 1001 || he.Want != 1000 {
		t.Fatalf("reason %v", err)
	}
	if srv.Stats().Closed["too_large"] != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

func TestBadHeadClosesTheSession(t *testing.T) {
	srv, addr := startServer(t, WithDatapack(Datapack{Head: [4]byte{'F', 'F', 'L', 'Y'}, ProtocolVersion: 2}))
	lost := lostReason(srv)
	for _, tc := range []struct {
		d    Datapack
		want error
	}{
		{Datapack{}, ErrBadHead},
		{Datapack{Head: [4]byte{'F', 'F', 'L', 'Y'}}, ErrBadVersion},
	} {
		c := dialRaw(t, addr)
		pkt, _ := tc.d.Encode(1, []byte("x"))
		c.Write(pkt)
		if err := recvReason(t, lost); !errors.Is(err, tc.want) {
			t.Fatalf("reason %v, want %v", err, tc.want)
		}
	}
	// The right datapack works.
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) { return body, nil })
	c := dial(t, addr, WithDatapack(srv.Datapack()))
	if got, err := c.Request(testutil.Context(t), 1, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("%q %v", got, err)
	}
	if srv.Stats().Closed["bad_header"] != 2 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

// TestSlowReaderIsDropped: a client that never reads is dropped when its
// queue passes the bound; the queue never holds more than the bound.
func TestSlowReaderIsDropped(t *testing.T) {
	const limit = 64 << 10
	srv, addr := startServer(t, WithWriteQueue(limit), WithWriteTimeout(0))
	lost := lostReason(srv)
	dialRaw(t, addr) // never reads
	testutil.Eventually(t, "the session", func() bool { return srv.Len() == 1 })
	sess := srv.Sessions()[0]
	body := make([]byte, 16<<10)
	var peak int
	deadline := time.Now().Add(hangGuard)
	for {
		if err := sess.Send(1, body); err != nil {
			if !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrSessionClosed) {
				t.Fatalf("Send: %v", err)
			}
			break
		}
		sess.wmu.Lock()
		peak = max(peak, sess.queued)
		sess.wmu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the session was never dropped")
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err := recvReason(t, lost); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("reason %v", err)
	}
	if peak > limit {
		t.Fatalf("queue held %d bytes, bound %d", peak, limit)
	}
	if srv.Stats().Closed["queue_full"] != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

// TestWriteTimeout: a write the client does not take within the timeout
// closes the session.
func TestWriteTimeout(t *testing.T) {
	srv, addr := startServer(t, WithMaxBody(1<<20), WithWriteQueue(256<<20), WithWriteTimeout(100*time.Millisecond))
	lost := lostReason(srv)
	dialRaw(t, addr)
	testutil.Eventually(t, "the session", func() bool { return srv.Len() == 1 })
	sess := srv.Sessions()[0]
	body := make([]byte, 1<<20)
	for i := 0; i < 200 && sess.Send(1, body) == nil; i++ {
	}
	if err := recvReason(t, lost); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("reason %v", err)
	}
	// The session's closer counts the reason; the lost hook may run first.
	testutil.Eventually(t, "the write timeout counted", func() bool { return srv.Stats().Closed["write_timeout"] == 1 })
}

// TestRateLimitSlowsDown: packets past the burst wait for their turn; none
// is lost, the session stays.
func TestRateLimitSlowsDown(t *testing.T) {
	srv, addr := startServer(t, WithRateLimit(100, 5))
	var handled atomic.Int32
	srv.Service().Handle(1, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		handled.Add(1)
		return nil, nil
	})
	srv.Service().Handle(2, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		return []byte("done"), nil
	})
	c := dial(t, addr)
	ctx := testutil.Context(t)
	const n = 30
	start := time.Now()
	for range n {
		if err := c.Send(ctx, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Request(ctx, 2, nil); err != nil || string(got) != "done" {
		t.Fatalf("%q %v", got, err)
	}
	elapsed := time.Since(start)
	if handled.Load() != n {
		t.Fatalf("handled %d of %d", handled.Load(), n)
	}
	// 31 packets, a burst of 5, 100 a second: at least 0.26 s.
	if min := 260 * time.Millisecond; elapsed < min {
		t.Fatalf("31 packets took %v under a rate of 100/s with a burst of 5; at least %v", elapsed, min)
	}
	if st := srv.Stats(); st.RateLimited < 20 || st.Sessions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMaxSessions(t *testing.T) {
	srv, addr := startServer(t, WithMaxSessions(2))
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	_ = b
	testutil.Eventually(t, "two sessions", func() bool { return srv.Len() == 2 })
	c := dialRaw(t, addr)
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: %v, want EOF", err)
	}
	if srv.Stats().Refused != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
	a.Close()
	testutil.Eventually(t, "a session to leave", func() bool { return srv.Len() == 1 })
	dialRaw(t, addr)
	testutil.Eventually(t, "a new session", func() bool { return srv.Len() == 2 })
}

// TestPiecesNeverSpin: a body sent a byte at a time is read as it comes,
// with the session's goroutine asleep between the bytes.
func TestPiecesNeverSpin(t *testing.T) {
	srv, addr := startServer(t)
	got := make(chan string, 1)
	srv.Service().Handle(7, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
		got <- string(body)
		return nil, nil
	})
	c := dialRaw(t, addr)
	var d Datapack
	pkt, _ := d.Encode(7, []byte("piece by piece"))
	for i := range pkt {
		c.Write(pkt[i : i+1])
		time.Sleep(2 * time.Millisecond)
	}
	if s := <-got; s != "piece by piece" {
		t.Fatalf("body %q", s)
	}
	// A stream cut in the middle of a body ends the session.
	lost := lostReason(srv)
	binary.BigEndian.PutUint32(pkt[9:], 100)
	c.Write(pkt)
	c.Close()
	if err := recvReason(t, lost); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reason %v", err)
	}
}
