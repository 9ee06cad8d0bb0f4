package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

var errServerClosed = errors.New("server closed")

// testConn is a connection whose handshake reads one byte.
type testConn struct {
	nc     net.Conn
	notify Notifications
}

func (c *testConn) NotifyOnDisconnect(f func(error)) func() { return c.notify.Add(f) }

func newTestServer(t *testing.T, maxHandshakes int) (*Server[*testConn], net.Listener, chan *testConn, chan error) {
	t.Helper()
	var s Server[*testConn]
	s.Init(ServerConfig{Logger: slog.New(slog.DiscardHandler), Prefix: "test", MaxHandshakes: maxHandshakes, Closed: errServerClosed})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan *testConn, 16)
	served := make(chan error, 1)
	go func() {
		served <- s.Serve(ln, func(ctx context.Context, nc net.Conn) (*testConn, error) {
			if _, err := io.ReadFull(nc, make([]byte, 1)); err != nil {
				return nil, err
			}
			c := &testConn{nc: nc}
			if _, ok := s.Add(nc, c); !ok {
				return nil, errServerClosed
			}
			added <- c
			return c, nil
		})
	}()
	return &s, ln, added, served
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// TestServerSet: a connection whose handshake is done is in the set until
// it ends; Stop returns it, ends Serve with the Closed error, and closes a
// connection still in its handshake.
func TestServerSet(t *testing.T) {
	s, ln, added, served := newTestServer(t, 4)
	dial(t, ln).Write([]byte{1})
	c := <-added
	if cs := s.Conns(); len(cs) != 1 || cs[0] != c {
		t.Fatalf("Conns = %v, want the one connection", cs)
	}
	stalled := dial(t, ln) // never completes its handshake
	conns, err := s.Stop(false)
	if err != nil || len(conns) != 1 || conns[0] != c {
		t.Fatalf("Stop = %v, %v; want the one connection", conns, err)
	}
	if err := <-served; err != errServerClosed {
		t.Fatalf("Serve after Stop = %v, want %v", err, errServerClosed)
	}
	waited := make(chan struct{})
	go func() { s.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait still waits for a handshake after Stop")
	}
	stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil || errors.Is(err, net.ErrClosed) || isTimeout(err) {
		t.Fatalf("the stalled connection: read %v, want its end", err)
	}
	c.notify.Fire(nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Conns()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an ended connection stays in the set")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := s.Add(nil, &testConn{}); ok {
		t.Fatal("Add after Stop succeeded")
	}
}

// TestServerStopLeavesAddedConns: a connection Added while its handshake's
// goroutine has not returned yet (a broker still starting it) is the
// caller's to end once Stop returns it: Stop does not close it as a
// connection in its handshake, which would cut it off without the goodbye
// its broker sends.
func TestServerStopLeavesAddedConns(t *testing.T) {
	var s Server[*testConn]
	s.Init(ServerConfig{Logger: slog.New(slog.DiscardHandler), Prefix: "test", MaxHandshakes: 4, Closed: errServerClosed})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan *testConn, 1)
	release := make(chan struct{})
	go s.Serve(ln, func(ctx context.Context, nc net.Conn) (*testConn, error) {
		c := &testConn{nc: nc}
		if _, ok := s.Add(nc, c); !ok {
			return nil, errServerClosed
		}
		added <- c
		<-release // still starting the connection
		return c, nil
	})
	client := dial(t, ln)
	c := <-added
	conns, err := s.Stop(false)
	close(release)
	if err != nil || len(conns) != 1 || conns[0] != c {
		t.Fatalf("Stop = %v, %v; want the one connection", conns, err)
	}
	s.Wait()
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := client.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("the added connection: read %v, want it still open (a timeout)", err)
	}
	// Its owner ends it, and can still write its last words first.
	if _, err := c.nc.Write([]byte{7}); err != nil {
		t.Fatalf("writing on the added connection after Stop: %v", err)
	}
	c.nc.Close()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 2)
	if n, err := io.ReadAtLeast(client, b, 1); n != 1 || b[0] != 7 {
		t.Fatalf("read %d bytes %v, %v; want the owner's last byte", n, b[:n], err)
	}
}

// TestServerHandshakeLimit: no more than MaxHandshakes connections are in
// their handshakes at once; a shutdown lets them finish, reported late.
func TestServerHandshakeLimit(t *testing.T) {
	s, ln, added, _ := newTestServer(t, 2)
	var ncs []net.Conn
	for range 3 {
		ncs = append(ncs, dial(t, ln))
	}
	pending := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pending)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pending() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a third, were it taken
	if n := pending(); n != 2 {
		t.Fatalf("%d connections in their handshakes, want the limit, 2", n)
	}
	if _, err := s.Stop(true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, nc := range ncs[:2] {
		wg.Add(1)
		go func() { defer wg.Done(); nc.Write([]byte{1}) }()
	}
	wg.Wait()
	for range 2 {
		c := <-added
		if late, ok := s.Add(c.nc, c); !ok || !late {
			t.Fatalf("Add during a shutdown = late %v, ok %v; want both", late, ok)
		}
	}
	s.Wait()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
