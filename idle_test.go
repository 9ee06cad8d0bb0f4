package firefly_test

import (
	"context"
	netrpc "net/rpc"
	"runtime"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// idleConns is the number of idle connections BenchmarkIdleConn holds open.
const idleConns = 1000

// idleCost opens idleConns connections with open (which makes one call on
// each, so that both ends have served traffic, and returns a function that
// closes them), lets them go idle, and reports the goroutines and heap
// bytes each costs, both ends together (client and server run in this
// process).
func idleCost(b *testing.B, open func(n int) func()) {
	var goroutines, heap float64
	for b.Loop() {
		g0, h0 := settled()
		closeAll := open(idleConns)
		g1, h1 := settled()
		goroutines += float64(g1-g0) / idleConns
		heap += (float64(h1) - float64(h0)) / idleConns
		b.StopTimer()
		closeAll()
		b.StartTimer()
	}
	b.ReportMetric(goroutines/float64(b.N), "goroutines/conn")
	b.ReportMetric(heap/float64(b.N), "heap-B/conn")
}

// settled waits for the goroutine count to stop changing, collects
// garbage, and returns the goroutine count and the bytes of live heap.
func settled() (int, uint64) {
	n := runtime.NumGoroutine()
	for stable := 0; stable < 5; {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			stable++
		} else {
			n, stable = m, 0
		}
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// BenchmarkIdleConn: 1,000 idle firefly connections to one server, after
// one call each: goroutines and heap per connection, both ends counted.
func BenchmarkIdleConn(b *testing.B) {
	srv, err := rpc.NewServer(Service{})
	if err != nil {
		b.Fatal(err)
	}
	ln := listen(b)
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard
	defer cancel()
	idleCost(b, func(n int) func() {
		conns := make([]*rpc.Conn, n)
		for i := range conns {
			c, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			var sum int
			if err := c.Root().Call(ctx, "add", &sum, Args{i, 1}); err != nil || sum != i+1 {
				b.Fatalf("add = %d, %v", sum, err)
			}
			conns[i] = c
		}
		return func() {
			for _, c := range conns {
				c.Close()
			}
		}
	})
}

// BenchmarkNetRPCIdleConn is BenchmarkIdleConn for net/rpc: 1,000
// connections to one server.
func BenchmarkNetRPCIdleConn(b *testing.B) {
	srv := netrpc.NewServer()
	if err := srv.RegisterName("Arith", Arith{}); err != nil {
		b.Fatal(err)
	}
	ln := listen(b)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(c)
		}
	}()
	idleCost(b, func(n int) func() {
		clients := make([]*netrpc.Client, n)
		for i := range clients {
			c, err := netrpc.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			var sum int
			if err := c.Call("Arith.Add", &Args{i, 1}, &sum); err != nil || sum != i+1 {
				b.Fatalf("add = %d, %v", sum, err)
			}
			clients[i] = c
		}
		return func() {
			for _, c := range clients {
				c.Close()
			}
		}
	})
}

// TestIdleConnGoroutines: an idle connection keeps its transport's reader
// on each side and nothing else once the server's handler goroutine, kept
// for more calls a while, has been let go.
func TestIdleConnGoroutines(t *testing.T) {
	base, _ := settled()
	conn := firefly(t)
	var n int
	if err := conn.Root().Call(context.Background(), "add", &n, Args{1, 2}); err != nil || n != 3 {
		t.Fatalf("add = %d, %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, _ := settled()
		if g-base <= 3 { // the two readers and the server's accept loop
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines for a server and an idle connection, both ends, want 3\n%s", g-base, buf)
		}
	}
}
