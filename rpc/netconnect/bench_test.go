package netconnect

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks with many clients run the clients in a second process
// (this test binary again, told so by benchClientsEnv) so that the server
// process holds only its own side of each connection: its memory and
// goroutines are the server's, and 10,000 connections fit in a process's
// descriptor limit.
const (
	benchClientsEnv = "NETCONNECT_BENCH_CLIENTS" // "addr n"
	benchSessions   = 10000
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchClientsEnv); spec != "" {
		os.Exit(benchClients(spec))
	}
	os.Exit(m.Run())
}

// benchClients is the client process: it opens n connections to addr,
// prints "ready", and for every push (body: round, send time in Unix
// nanoseconds) that has reached all n connections prints "round R LAST"
// with the time from the send until the last connection had it. It exits
// when its standard input closes.
func benchClients(spec string) int {
	addr, ns, _ := strings.Cut(spec, " ")
	n, err := strconv.Atoi(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad spec", spec)
		return 2
	}
	var d Datapack
	// Each push round is counted in a slot of its own (a ring: the parent
	// waits for each round before the next).
	type round struct{ count, last atomic.Int64 }
	var rounds [64]round
	var mu sync.Mutex // the output
	out := bufio.NewWriter(os.Stdout)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Store(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 1
	}
	for _, c := range conns {
		go func() {
			rd := NewReader(&d, c)
			for {
				_, body, err := rd.Read()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				r, sent := binary.BigEndian.Uint64(body), int64(binary.BigEndian.Uint64(body[8:]))
				st := &rounds[r%uint64(len(rounds))]
				for {
					last := st.last.Load()
					if now <= last || st.last.CompareAndSwap(last, now) {
						break
					}
				}
				if st.count.Add(1) == int64(n) {
					last := st.last.Swap(0)
					st.count.Store(0)
					mu.Lock()
					fmt.Fprintf(out, "round %d %d\n", r, last-sent)
					out.Flush()
					mu.Unlock()
				}
			}
		}()
	}
	mu.Lock()
	fmt.Fprintln(out, "ready")
	out.Flush()
	mu.Unlock()
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// clientProcess is a running client process.
type clientProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

func startClients(b *testing.B, addr string, n int) *clientProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientsEnv+"="+addr+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &clientProcess{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	if line := p.next(b); line != "ready" {
		b.Fatalf("client process said %q", line)
	}
	return p
}

func (p *clientProcess) next(b *testing.B) string {
	b.Helper()
	if !p.lines.Scan() {
		b.Fatalf("client process ended: %v", p.lines.Err())
	}
	return p.lines.Text()
}

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
	startClients(b, ln.Addr().String(), n)
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
				for _, c := range conns {
					c.Close()
				}
			})
			return func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
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

// BenchmarkPushAll: a push to all 10,000 sessions (clients in another
// process); the time from Broadcast until the last client has read it.
// Beside it, the floor: the same packet written to the same 10,000
// connections in a loop of plain Write calls, from one goroutine.
func BenchmarkPushAll(b *testing.B) {
	b.Run("netconnect", func(b *testing.B) {
		srv := NewServer(WithMaxSessions(benchSessions))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(context.Background(), ln)
		defer srv.Close()
		clients := startClients(b, ln.Addr().String(), benchSessions)
		for srv.Len() < benchSessions {
			time.Sleep(10 * time.Millisecond)
		}
		pushRounds(b, clients, func(body []byte) {
			if n, _ := srv.Broadcast(2001, body); n != benchSessions {
				b.Fatalf("broadcast reached %d", n)
			}
		})
	})
	b.Run("write-loop", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
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
		clients := startClients(b, ln.Addr().String(), benchSessions)
		for {
			mu.Lock()
			k := len(conns)
			mu.Unlock()
			if k == benchSessions {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var d Datapack
		pushRounds(b, clients, func(body []byte) {
			pkt, _ := d.Encode(2001, body)
			for _, c := range conns {
				c.Write(pkt)
			}
		})
	})
}

// pushRounds runs b.N pushes and reports when the last client had each.
func pushRounds(b *testing.B, clients *clientProcess, push func(body []byte)) {
	var lasts []time.Duration
	body := make([]byte, 16)
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(body, uint64(i))
		binary.BigEndian.PutUint64(body[8:], uint64(time.Now().UnixNano()))
		push(body)
		var r uint64
		var last int64
		if _, err := fmt.Sscanf(clients.next(b), "round %d %d", &r, &last); err != nil || r != uint64(i) {
			b.Fatalf("client process: round %d, %v", r, err)
		}
		lasts = append(lasts, time.Duration(last))
	}
	b.StopTimer()
	slices.Sort(lasts)
	b.ReportMetric(float64(lasts[len(lasts)/2].Microseconds())/1000, "ms-last-p50")
	b.ReportMetric(float64(lasts[len(lasts)-1].Microseconds())/1000, "ms-last-max")
}

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
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
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
				game, player, _ := strings.Cut(string(body), " ")
				return fmt.Appendf(nil, "net -> gate -> %s -> gate -> net: %s welcomes %s", game, game, player), nil
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
	go func() {
		var d Datapack
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := NewReader(&d, c)
				for {
					h, body, err := rd.Read()
					if err != nil {
						return
					}
					game, player, _ := strings.Cut(string(body), " ")
					reply := fmt.Appendf(nil, "net -> gate -> %s -> gate -> net: %s welcomes %s", game, game, player)
					pkt, _ := d.Encode(h.Command, reply)
					if _, err := c.Write(pkt); err != nil {
						return
					}
				}
			}()
		}
	}()
	for _, rate := range benchRates {
		b.Run(rateName(rate), func(b *testing.B) {
			requestLoad(b, ln.Addr().String(), benchClientsPerLoad, rate, []byte("game1 alice"),
				"net -> gate -> game1 -> gate -> net: game1 welcomes alice")
		})
	}
}
