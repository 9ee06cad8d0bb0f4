package firefly_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

// countingListener counts the bytes its connections read and write.
type countingListener struct {
	net.Listener
	read, written *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.read, l.written}, nil
}

type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// callSeqSizes returns the bytes a CallSeq call puts on the wire: the
// request the server reads and the answer it writes, averaged over a
// number of calls made after the connection has settled.
func callSeqSizes(tb testing.TB) (req, resp int) {
	tb.Helper()
	srv, err := rpc.NewServer(Service{})
	if err != nil {
		tb.Fatal(err)
	}
	var read, written atomic.Int64
	ln := listen(tb)
	go srv.Serve(countingListener{ln, &read, &written})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	call := func(i int) {
		var n int
		if err := conn.Root().Call(ctx, "add", &n, Args{i, 1}); err != nil || n != i+1 {
			tb.Fatalf("add = %d, %v", n, err)
		}
	}
	for i := range 100 { // the first calls carry the type definitions
		call(i)
	}
	const calls = 1000
	r0, w0 := read.Load(), written.Load()
	for i := range calls {
		call(100 + i)
	}
	return int((read.Load() - r0) / calls), int((written.Load() - w0) / calls)
}

// BenchmarkTCPPingPong is the floor of BenchmarkCallSeq: one goroutine
// writes a request of the size a CallSeq call's request takes on the wire
// to a loopback TCP connection, and another reads it in full and writes
// back an answer of the size of CallSeq's answer. It reports the two sizes.
func BenchmarkTCPPingPong(b *testing.B) {
	req, resp := callSeqSizes(b)
	ln := listen(b)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		in, out := make([]byte, req), make([]byte, resp)
		for {
			if _, err := io.ReadFull(c, in); err != nil {
				return // the client closed
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	out, in := make([]byte, req), make([]byte, resp)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	wg.Wait()
	b.ReportMetric(float64(req), "req-bytes")
	b.ReportMetric(float64(resp), "resp-bytes")
}
