package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Args is the small-call payload, the same for every system. Systems with a
// codec of their own (firefly, net/rpc: gob) send it as it is; those given
// raw bytes (gRPC, arpc) send it as 16 bytes and get the sum back as 8.
type Args struct{ A, B int }

const mib = 1 << 20

// client is one connection to one system's server, offering the two calls
// the scenarios need. Add computes a.A+a.B remotely; Echo returns a copy of
// p made by the far side.
type client interface {
	Add(ctx context.Context, a Args) (int, error)
	Echo(ctx context.Context, p []byte) ([]byte, error)
}

// system starts a server for one RPC system on ln, dials it once, and
// returns the client; everything is torn down by tb.Cleanup.
type system struct {
	name  string
	start func(tb testing.TB, ln net.Listener) client
}

var systems = []system{
	{"firefly", startFirefly},
	{"netrpc", startNetRPC},
	{"netrpc-yamux", startNetRPCYamux},
	{"grpc", startGRPC},
	{"arpc", startARPC},
}

// listen returns a loopback listener closed at the end of the test.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// encodeArgs and decodeInt are the raw-bytes form of Args and of the sum.
func encodeArgs(a Args) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(a.A))
	binary.LittleEndian.PutUint64(b[8:], uint64(a.B))
	return b[:]
}

func decodeArgs(b []byte) (Args, error) {
	if len(b) != 16 {
		return Args{}, fmt.Errorf("args: %d bytes, want 16", len(b))
	}
	return Args{int(binary.LittleEndian.Uint64(b[:8])), int(binary.LittleEndian.Uint64(b[8:]))}, nil
}

func encodeInt(n int) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

func decodeInt(b []byte) (int, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int: %d bytes, want 8", len(b))
	}
	return int(binary.LittleEndian.Uint64(b)), nil
}

// TestSystemsAgree makes one call of each scenario on each system and checks
// the answers, so that a broken adapter fails here rather than in a
// benchmark's numbers.
func TestSystemsAgree(t *testing.T) {
	for _, s := range systems {
		t.Run(s.name, func(t *testing.T) {
			c := s.start(t, listen(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			if n, err := c.Add(ctx, Args{20, 22}); err != nil || n != 42 {
				t.Fatalf("add(20, 22) = %d, %v", n, err)
			}
			if n, err := c.Add(ctx, Args{-5, 3}); err != nil || n != -2 {
				t.Fatalf("add(-5, 3) = %d, %v", n, err)
			}

			payload := bytes.Repeat([]byte("firefly!"), mib/8)
			echo, err := c.Echo(ctx, payload)
			if err != nil || !bytes.Equal(echo, payload) {
				t.Fatalf("echo of %d bytes: got %d bytes, %v", len(payload), len(echo), err)
			}

			// 64 concurrent callers on the one connection.
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 64 {
				wg.Go(func() {
					if n, err := c.Add(ctx, Args{i, 1000}); err != nil || n != i+1000 {
						errs <- fmt.Errorf("caller %d: add = %d, %v", i, n, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			// A small call while a 16 MiB echo is in flight.
			big := make([]byte, 16*mib)
			for i := range big {
				big[i] = byte(i * 7)
			}
			done := make(chan error, 1)
			go func() {
				echo, err := c.Echo(ctx, big)
				if err == nil && !bytes.Equal(echo, big) {
					err = fmt.Errorf("16 MiB echo: got %d bytes, different", len(echo))
				}
				done <- err
			}()
			if n, err := c.Add(ctx, Args{1, 2}); err != nil || n != 3 {
				t.Errorf("add during bulk = %d, %v", n, err)
			}
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

func BenchmarkCallSeq(b *testing.B) {
	for _, s := range systems {
		b.Run(s.name, func(b *testing.B) {
			c := s.start(b, listen(b))
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if n, err := c.Add(ctx, Args{i, 1}); err != nil || n != i+1 {
					b.Fatalf("add = %d, %v", n, err)
				}
			}
		})
	}
}

func BenchmarkCallParallel(b *testing.B) {
	for _, s := range systems {
		b.Run(s.name, func(b *testing.B) {
			c := s.start(b, listen(b))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(32) // 64 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if n, err := c.Add(ctx, Args{1, 2}); err != nil || n != 3 {
						b.Errorf("add = %d, %v", n, err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkEcho1MiB(b *testing.B) {
	for _, s := range systems {
		b.Run(s.name, func(b *testing.B) {
			c := s.start(b, listen(b))
			ctx := context.Background()
			payload := make([]byte, mib)
			b.SetBytes(2 * mib) // there and back
			b.ReportAllocs()
			for b.Loop() {
				if echo, err := c.Echo(ctx, payload); err != nil || len(echo) != mib {
					b.Fatalf("echo: %d bytes, %v", len(echo), err)
				}
			}
		})
	}
}

// BenchmarkCallUnderBulk times small calls while another goroutine echoes
// 16 MiB messages on the same connection, and reports the latency
// percentiles and the bulk echoes' own throughput (there and back, counting
// the echoes that ended while the small calls ran): a system whose small
// calls wait less because its bulk moves less shows it there. allocs/op
// counts the bulk goroutine's allocations too, spread over the small calls.
func BenchmarkCallUnderBulk(b *testing.B) {
	for _, s := range systems {
		b.Run(s.name, func(b *testing.B) {
			underBulk(b, s.start(b, listen(b)), nil)
		})
	}
}

// underBulk is CallUnderBulk's body for one system's client c. after, when
// not nil, is given each small call's latency once the call is done,
// outside the time the call takes.
func underBulk(b *testing.B, c client, after func(time.Duration)) {
	ctx := context.Background()
	payload := make([]byte, 16*mib)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var echoes atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Echo(ctx, payload); err != nil {
				b.Errorf("bulk echo: %v", err)
				return
			}
			echoes.Add(1)
		}
	})
	time.Sleep(20 * time.Millisecond) // let the bulk transfer get going
	lat := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	start0, echoes0 := time.Now(), echoes.Load()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if n, err := c.Add(ctx, Args{1, 2}); err != nil || n != 3 {
			b.Fatalf("add = %d, %v", n, err)
		}
		d := time.Since(start)
		lat = append(lat, d)
		if after != nil {
			after(d)
		}
	}
	b.StopTimer()
	bulkBytes := float64(echoes.Load()-echoes0) * 2 * float64(len(payload))
	elapsed := time.Since(start0)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(bulkBytes/1e6/elapsed.Seconds(), "bulk-MB/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Nanoseconds()), "p99-ns")
}
