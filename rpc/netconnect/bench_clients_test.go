package netconnect

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// The benchmarks with many clients run the clients in a second process
// (this test binary again, told so by benchClientsEnv) so that the server
// process holds only its own side of each connection: its memory and
// goroutines are the server's, and 10,000 connections fit in a process's
// descriptor limit.
const (
	benchClientsEnv = "NETCONNECT_BENCH_CLIENTS" // "addr n reader"
	benchSessions   = 10000
)

// The client process's ways of reading its connections.
const (
	// readGoroutines reads each connection with a goroutine of its own.
	readGoroutines = "goroutines"
	// readEpoll reads every connection from one loop on an epoll set,
	// as clients on other machines would cost the server's machine
	// nothing but their sockets (Linux only).
	readEpoll = "epoll"
)

// benchPushBody is the size of a push's body in the push benchmarks: the
// round and the send time in Unix nanoseconds.
const benchPushBody = 16

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchClientsEnv); spec != "" {
		os.Exit(benchClients(spec))
	}
	if os.Getenv(benchNodeEnv) != "" {
		os.Exit(benchNode())
	}
	os.Exit(m.Run())
}

// pushTracker counts, for each push round, the connections that have it
// and the latest time one got it.
type pushTracker struct {
	n int64
	// rounds is a ring: the parent waits for each round before the next.
	rounds [64]struct{ count, last atomic.Int64 }
	mu     sync.Mutex // the output
	out    *bufio.Writer
}

// got records that a connection read the push with body at now (Unix
// nanoseconds); the last of the n connections to do so prints "round R
// LAST", LAST the time from the send until then.
func (t *pushTracker) got(body []byte, now int64) {
	r, sent := binary.BigEndian.Uint64(body), int64(binary.BigEndian.Uint64(body[8:]))
	st := &t.rounds[r%uint64(len(t.rounds))]
	for {
		last := st.last.Load()
		if now <= last || st.last.CompareAndSwap(last, now) {
			break
		}
	}
	if st.count.Add(1) == t.n {
		last := st.last.Swap(0)
		st.count.Store(0)
		t.println(fmt.Sprintf("round %d %d", r, last-sent))
	}
}

func (t *pushTracker) println(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.out, s)
	t.out.Flush()
}

// benchClients is the client process: it opens n connections to addr,
// starts reading them the way reader says, prints "ready", and for every
// push (a body of benchPushBody bytes) that has reached all n connections
// prints "round R LAST" (pushTracker). It exits when its standard input
// closes.
func benchClients(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintln(os.Stderr, "bad spec", spec)
		return 2
	}
	addr, reader := f[0], f[2]
	n, err := strconv.Atoi(f[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad spec", spec)
		return 2
	}
	t := &pushTracker{n: int64(n), out: bufio.NewWriter(os.Stdout)}
	switch reader {
	case readGoroutines:
		conns, err := dialMany(addr, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 1
		}
		for _, c := range conns {
			go func() {
				var d Datapack
				rd := NewReader(&d, c)
				for {
					_, body, err := rd.Read()
					if err != nil {
						return
					}
					t.got(body, time.Now().UnixNano())
				}
			}()
		}
	case readEpoll:
		loop, err := dialEpoll(addr, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "epoll:", err)
			return 1
		}
		go func() {
			if err := loop.run(t.got); err != nil {
				fmt.Fprintln(os.Stderr, "epoll:", err)
				os.Exit(1)
			}
		}()
	default:
		fmt.Fprintln(os.Stderr, "bad reader", reader)
		return 2
	}
	t.println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// dialMany opens n connections to addr, 64 at a time.
func dialMany(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Store(err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return conns, nil
}

// startClients starts a client process with n connections to addr, read
// the way reader says, and waits until they are open.
func startClients(b *testing.B, addr string, n int, reader string) *testutil.Child {
	b.Helper()
	p := testutil.StartChild(b, fmt.Sprintf("%s=%s %d %s", benchClientsEnv, addr, n, reader))
	if line := p.Next(b); line != "ready" {
		b.Fatalf("client process said %q", line)
	}
	return p
}
