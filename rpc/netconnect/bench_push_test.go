package netconnect

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// liveMemory returns the live heap and the goroutine stacks, after a GC.
func liveMemory() (bytes uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
}

// idleCost measures what n idle connections cost the process that serves
// them with serve, which returns how many it holds.
func idleCost(b *testing.B, n int, serve func(ln net.Listener) func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	held := serve(ln)
	mem0, g0 := liveMemory()
	startClients(b, ln.Addr().String(), n, readGoroutines)
	deadline := time.Now().Add(time.Minute)
	for held() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections held", held(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	mem1, g1 := liveMemory()
	b.ReportMetric(float64(int64(mem1)-int64(mem0))/float64(n), "B/session")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/session")
}

// BenchmarkIdleSessions: 10,000 idle sessions on one server (the clients
// in another process); memory (live heap and stacks) and goroutines per
// session. Run with -benchtime 1x.
func BenchmarkIdleSessions(b *testing.B) {
	b.Run("netconnect", func(b *testing.B) {
		idleCost(b, benchSessions, func(ln net.Listener) func() int {
			srv := NewServer(WithMaxSessions(benchSessions))
			go srv.Serve(context.Background(), ln)
			b.Cleanup(func() { srv.Close() })
			return srv.Len
		})
	})
	// The floor: the accepted connections held in a slice, nothing else.
	b.Run("held-conns", func(b *testing.B) {
		idleCost(b, benchSessions, func(ln net.Listener) func() int {
			conns := acceptAll(b, ln)
			return func() int { return len(conns()) }
		})
	})
	// A plain Go server: a goroutine per connection blocked in a read
	// through a 4 KiB bufio.Reader.
	b.Run("goroutine-bufio", func(b *testing.B) {
		idleCost(b, benchSessions, func(ln net.Listener) func() int {
			var n atomic.Int64
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					n.Add(1)
					go func() {
						defer c.Close()
						io.Copy(io.Discard, bufio.NewReader(c))
					}()
				}
			}()
			return func() int { return int(n.Load()) }
		})
	})
}

// acceptAll accepts every connection of ln into a list, closed at the end
// of the benchmark, and returns a function that lists them.
func acceptAll(b *testing.B, ln net.Listener) func() []net.Conn {
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return func() []net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(conns)
	}
}

// BenchmarkPushAll: a push to all 10,000 sessions (clients in another
// process); "ms-handoff" is the time the push took to hand every write to
// the kernel (until Broadcast returned), "ms-last" the time from the push
// until the last client had read it. Beside it, the floor: the same packet
// written to the same 10,000 connections in a loop of plain Write calls,
// from one goroutine. Each runs against two client processes: one that
// reads its connections from one epoll loop (as clients on other machines
// cost the server's machine nothing) and one with a goroutine per
// connection.
func BenchmarkPushAll(b *testing.B) {
	for _, reader := range []string{readEpoll, readGoroutines} {
		b.Run(reader+"/netconnect", func(b *testing.B) {
			srv := NewServer(WithMaxSessions(benchSessions))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(context.Background(), ln)
			defer srv.Close()
			clients := startClients(b, ln.Addr().String(), benchSessions, reader)
			for srv.Len() < benchSessions {
				time.Sleep(10 * time.Millisecond)
			}
			var queued uint64
			pushRounds(b, clients, func(body []byte) {
				before := srv.Stats().PacketsOut
				if n, _ := srv.Broadcast(2001, body); n != benchSessions {
					b.Fatalf("broadcast reached %d", n)
				}
				queued += benchSessions - (srv.Stats().PacketsOut - before)
			})
			// Packets not written by the time Broadcast returned were left
			// to a session's writer goroutine.
			b.ReportMetric(float64(queued)/float64(b.N), "queued/op")
		})
		b.Run(reader+"/write-loop", func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			accepted := acceptAll(b, ln)
			clients := startClients(b, ln.Addr().String(), benchSessions, reader)
			for len(accepted()) < benchSessions {
				time.Sleep(10 * time.Millisecond)
			}
			conns := accepted()
			var d Datapack
			pushRounds(b, clients, func(body []byte) {
				pkt, _ := d.Encode(2001, body)
				for _, c := range conns {
					if _, err := c.Write(pkt); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// pushRounds runs b.N pushes and reports how long each push took to
// return (ms-handoff) and when the last client had it (ms-last).
func pushRounds(b *testing.B, clients *testutil.Child, push func(body []byte)) {
	var lasts, handoffs []time.Duration
	body := make([]byte, benchPushBody)
	cpu0 := processCPU()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		binary.BigEndian.PutUint64(body, uint64(i))
		binary.BigEndian.PutUint64(body[8:], uint64(t0.UnixNano()))
		push(body)
		handoffs = append(handoffs, time.Since(t0))
		var r uint64
		var last int64
		if _, err := fmt.Sscanf(clients.Next(b), "round %d %d", &r, &last); err != nil || r != uint64(i) {
			b.Fatalf("client process: round %d, %v", r, err)
		}
		lasts = append(lasts, time.Duration(last))
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	reportSpread(b, "ms-handoff", handoffs)
	reportSpread(b, "ms-last", lasts)
}

// processCPU returns the CPU time (user and system) this process used so
// far; the clients' process is not counted.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportSpread reports the median and the maximum of ds, in milliseconds.
func reportSpread(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ds[len(ds)/2]), name+"-p50")
	b.ReportMetric(ms(ds[len(ds)-1]), name+"-max")
}
