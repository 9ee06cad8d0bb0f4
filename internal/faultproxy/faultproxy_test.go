package faultproxy

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo %q: %q, %v", msg, got, err)
	}
}

func TestPassAndDelay(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(t, c, "hello")
	p.SetDelay(50 * time.Millisecond)
	start := time.Now()
	roundTrip(t, c, "slow")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("a round trip through two delays took %v", d)
	}
	p.SetMode(Pass)
	roundTrip(t, c, "fast again")
}

func TestBlackHole(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(t, c, "hello")
	p.SetMode(BlackHole)
	c.Write([]byte("lost"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Fatalf("read through a black hole: %d, %v", n, err)
	}
	if p.Links() != 1 {
		t.Fatal("the black hole closed the link")
	}
}

func TestCutAndDrop(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(t, c, "hello")
	p.CutAfter(3)
	c.Write([]byte("abcdefgh"))
	got, _ := io.ReadAll(c) // EOF or reset, after at most the 3 bytes echoed
	if !bytes.HasPrefix([]byte("abc"), got) {
		t.Errorf("after a cut after 3 bytes, read %q", got)
	}
	for p.Links() != 0 {
		time.Sleep(time.Millisecond)
	}

	c2 := dial(t, p)
	roundTrip(t, c2, "x")
	if n := p.DropAll(); n != 1 {
		t.Errorf("DropAll dropped %d links", n)
	}
	if _, err := io.ReadAll(c2); err != nil {
		t.Fatalf("a dropped link should read EOF: %v", err)
	}
	p.SetMode(Refuse)
	c3 := dial(t, p)
	if n, _ := c3.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a refused connection delivered data")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	addr := echoServer(t)
	before := runtime.NumGoroutine()
	p, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
	}
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+3 && time.Now().Before(deadline) { // the echo handlers end with the clients
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+3 {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
