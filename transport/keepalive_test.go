package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blackholeProxy forwards one TCP connection to target until blackholed;
// from then on it keeps both connections open but drops everything.
type blackholeProxy struct {
	ln    net.Listener
	drop  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}()
	t.Cleanup(p.close)
	return p
}

func (p *blackholeProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.drop.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *blackholeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A peer behind a connection that stays open but delivers nothing is
// declared dead by keepalive; every pending call fails with
// ErrConnectionLost.
func TestKeepAliveBlackhole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	proxy := newBlackholeProxy(t, ln.Addr().String())
	cfg := &Config{KeepAliveInterval: 50 * time.Millisecond, KeepAliveTimeout: 300 * time.Millisecond}

	srvCh := make(chan *Session, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			srvCh <- nil
			return
		}
		s, err := Server(context.Background(), conn, cfg)
		if err != nil {
			conn.Close()
		}
		srvCh <- s
	}()
	conn, err := net.Dial("tcp", proxy.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Client(context.Background(), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-srvCh
	if s == nil {
		t.Fatal("server handshake failed")
	}
	defer s.Close()
	a, b := openAccept(t, c, s, "x")

	// Keepalive keeps an idle but healthy session alive well past the
	// timeout.
	idle := time.NewTimer(3 * cfg.KeepAliveTimeout)
	select {
	case <-c.Done():
		t.Fatalf("healthy idle session died: %v", c.Err())
	case <-idle.C:
	}

	proxy.drop.Store(true)
	start := time.Now()
	readErr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		readErr <- err
	}()
	for _, sess := range []*Session{c, s} {
		err := waitDone(t, sess, 5*time.Second)
		if !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("Err %v, want ErrConnectionLost", err)
		}
	}
	if d := time.Since(start); d < cfg.KeepAliveTimeout/2 {
		t.Fatalf("declared dead after only %v", d)
	}
	if err := <-readErr; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("pending read: %v", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("write: %v", err)
	}
	if _, err := c.Open(context.Background()); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("open: %v", err)
	}
	if _, err := s.Accept(context.Background()); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("accept: %v", err)
	}
}

// No goroutine outlives its session.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		for range 5 {
			c, s := sessionPair(t, &Config{KeepAliveInterval: 10 * time.Millisecond}, nil)
			ctx := testCtx(t)
			go func() {
				for {
					st, err := s.Accept(ctx)
					if err != nil {
						return
					}
					go func() { io.Copy(st, st); st.Close() }()
				}
			}()
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := c.Open(ctx)
					if err != nil {
						return
					}
					st.SetDeadline(time.Now().Add(time.Hour))
					st.Write(make([]byte, 100<<10))
					st.Read(make([]byte, 10))
					// leave streams open and blocked: Close must clean up
				}()
			}
			wg.Wait()
			blocked := make(chan struct{})
			go func() {
				st, err := c.Open(ctx)
				if err == nil {
					st.Write([]byte("x"))
					st.Read(make([]byte, 1<<20))
					st.Read(make([]byte, 1<<20))
				}
				close(blocked)
			}()
			c.Ping(ctx)
			c.Close()
			<-blocked
			waitDone(t, s, 5*time.Second)
			s.Close()
		}
	}()
	checkGoroutines(t, base)
}
