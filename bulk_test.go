package firefly_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

const mib = 1 << 20

func BenchmarkEcho1MiB(b *testing.B) {
	conn := firefly(b)
	ctx := context.Background()
	payload := make([]byte, mib)
	b.SetBytes(2 * mib) // there and back
	b.ReportAllocs()
	for b.Loop() {
		var echo []byte
		if err := conn.Root().Call(ctx, "echo", &echo, payload); err != nil || len(echo) != mib {
			b.Fatalf("echo: %d bytes, %v", len(echo), err)
		}
	}
}

func BenchmarkNetRPCEcho1MiB(b *testing.B) {
	client := netRPC(b)
	payload := make([]byte, mib)
	b.SetBytes(2 * mib)
	b.ReportAllocs()
	for b.Loop() {
		var echo []byte
		if err := client.Call("Arith.Echo", payload, &echo); err != nil || len(echo) != mib {
			b.Fatalf("echo: %d bytes, %v", len(echo), err)
		}
	}
}

// underBulk times small calls while another goroutine echoes 16 MiB
// messages on the same connection, and reports the latency percentiles.
func underBulk(b *testing.B, small func() error, bulk func(payload []byte) error) {
	payload := make([]byte, 16*mib)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var echoes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := bulk(payload); err != nil {
				b.Errorf("bulk echo: %v", err)
				return
			}
			echoes.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the bulk transfer get going
	lat := make([]time.Duration, 0, 1024)
	start0, echoes0 := time.Now(), echoes.Load()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := small(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	bulkBytes := float64(echoes.Load()-echoes0) * 2 * float64(len(payload))
	elapsed := time.Since(start0)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	// The bulk echoes' own throughput (there and back) meanwhile, counting
	// the echoes that ended while the small calls ran.
	b.ReportMetric(bulkBytes/1e6/elapsed.Seconds(), "bulk-MB/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Nanoseconds()), "p99-ns")
}

func BenchmarkCallUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	conn := firefly(b)
	ctx := context.Background()
	underBulk(b, func() error {
		var n int
		return conn.Root().Call(ctx, "add", &n, Args{1, 2})
	}, func(p []byte) error {
		var echo []byte
		return conn.Root().Call(ctx, "echo", &echo, p)
	})
}

func BenchmarkNetRPCCallUnderBulk(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	client := netRPC(b)
	underBulk(b, func() error {
		var n int
		return client.Call("Arith.Add", &Args{1, 2}, &n)
	}, func(p []byte) error {
		var echo []byte
		return client.Call("Arith.Echo", p, &echo)
	})
}
