package netconnect

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// requestLoad runs b.N requests of command 1001 from clients connections
// to addr and reports requests per second and latency percentiles. With
// rate 0 every client sends its next request as soon as it has the reply
// (the most the system does); with a rate, the clients together send rate
// requests a second, each on its own schedule, and a request's latency
// counts from when it was due (a late send is not hidden).
func requestLoad(b *testing.B, addr string, clients int, rate float64, body []byte, want string) {
	ctx := context.Background()
	cs := make([]*Client, clients)
	for i := range cs {
		c, err := Dial(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	// One request each before timing: every session is up.
	for _, c := range cs {
		if got, err := c.Request(ctx, 1001, body); err != nil || string(got) != want {
			b.Fatalf("warm-up: %q, %v", got, err)
		}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if rate > 0 {
		interval = time.Duration(float64(clients) / rate * float64(time.Second))
	}
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			due := start.Add(time.Duration(i) * interval / time.Duration(clients))
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if interval > 0 {
					time.Sleep(time.Until(due))
					t0 = due
					due = due.Add(interval)
				}
				got, err := c.Request(ctx, 1001, body)
				if err != nil || string(got) != want {
					b.Errorf("request: %q, %v", got, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLoad(b, slices.Concat(lat...), elapsed, processCPU()-cpu0)
}

// reportLoad reports requests per second, latency percentiles and the CPU
// time of this process per request: the clients' (and, when the servers
// run here too, theirs).
func reportLoad(b *testing.B, lat []time.Duration, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "here-cpu-us/op")
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "ms-p50")
	b.ReportMetric(pct(0.99), "ms-p99")
}

const benchClientsPerLoad = 1000

// benchRates are the offered loads of the paced runs, requests a second
// over all clients; 0 is the closed loop.
var benchRates = []float64{0, 10000, 30000}

func rateName(r float64) string {
	if r == 0 {
		return "closed-loop"
	}
	return fmt.Sprintf("paced-%dk", int(r/1000))
}

// BenchmarkGateRequests: 1,000 clients send command 1001 "game1 alice"
// through net -> gate -> game1 -> gate -> net, all in this process over
// loopback (the front-end, the gate root, the game node and the clients).
func BenchmarkGateRequests(b *testing.B) {
	for _, rate := range benchRates {
		b.Run(rateName(rate), func(b *testing.B) {
			m := startMiniCluster(b, WithMaxSessions(benchClientsPerLoad), WithRateLimit(0, 0))
			requestLoad(b, m.addr, benchClientsPerLoad, rate, []byte("game1 alice"),
				"net -> gate -> game1 -> gate -> net: game1 welcomes alice")
			b.ReportMetric(float64(m.root.Stats().Errors["overloaded"])/float64(b.N), "gate-refused/op")
		})
	}
}

// BenchmarkDirectRequests: the same clients and packets, answered by the
// front-end's own handler (no gate, no game): the front-end's cost beside
// BenchmarkBareTCP's.
func BenchmarkDirectRequests(b *testing.B) {
	for _, rate := range benchRates {
		b.Run(rateName(rate), func(b *testing.B) {
			srv, addr := startServer(b, WithMaxSessions(benchClientsPerLoad), WithRateLimit(0, 0))
			srv.Service().Handle(1001, func(ctx context.Context, s *Session, cmd uint32, body []byte) ([]byte, error) {
				return welcomeHere(body), nil
			})
			requestLoad(b, addr, benchClientsPerLoad, rate, []byte("game1 alice"),
				"net -> gate -> game1 -> gate -> net: game1 welcomes alice")
		})
	}
}

// BenchmarkGateHops: the rpc part of BenchmarkGateRequests alone: 1,000
// goroutines of the net process call the gate's forwarding, which calls
// game1, with no client and no front-end (refused calls tried again, as
// the front-end does).
func BenchmarkGateHops(b *testing.B) {
	m := startMiniCluster(b)
	link := Link{Call: m.node.CallRemote}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchClientsPerLoad {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				var reply []byte
				if err := link.Call(context.Background(), ForwardingCommand, &reply, uint32(1001), uint64(1), []byte("game1 alice")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkBareTCP is the floor beside BenchmarkGateRequests: a bare Go TCP
// server, a goroutine per connection, reading the same packets and
// answering them itself, with the same clients.
func BenchmarkBareTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go serveBare(ln)
	for _, rate := range benchRates {
		b.Run(rateName(rate), func(b *testing.B) {
			requestLoad(b, ln.Addr().String(), benchClientsPerLoad, rate, []byte("game1 alice"),
				"net -> gate -> game1 -> gate -> net: game1 welcomes alice")
		})
	}
}
