package firefly_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// apartEnv, set in the environment of this package's test binary, makes it
// the server process of the benchmarks that run their server apart (see
// serveApart) instead of running tests.
const apartEnv = "FIREFLY_BENCH_SERVE_APART"

func TestMain(m *testing.M) {
	if os.Getenv(apartEnv) != "" {
		os.Exit(serveApart(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// serveApart serves Burst and Service on a listener each, writes their
// addresses to out, one a line, and serves until in ends (the benchmark's
// process closed it, or ended).
func serveApart(in io.Reader, out io.Writer) int {
	for _, root := range []any{Burst{}, Service{}} {
		srv, err := rpc.NewServer(root)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go srv.Serve(ln)
		fmt.Fprintln(out, ln.Addr())
	}
	io.Copy(io.Discard, in)
	return 0
}

// startApart starts this test binary as the server process of serveApart
// and dials its two servers; the benchmark's cleanup ends it.
func startApart(b *testing.B) (burst, service *rpc.Conn) {
	b.Helper()
	p := testutil.StartChild(b, apartEnv+"=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns [2]*rpc.Conn
	for i := range conns {
		c, err := rpc.Dial(ctx, "tcp", p.Next(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// BenchmarkCall10kCallersPairApart is BenchmarkCall10kCallersPair with both
// servers in a process of their own, as a deployment has them: the client's
// and the server's goroutines then share no scheduler, and the two processes
// share the machine's processors through the kernel.
func BenchmarkCall10kCallersPairApart(b *testing.B) {
	defer testutil.ReportSteal(b, testutil.MarkCPU())
	bconn, conn := startApart(b)
	callersPair(b, bconn, conn)
}
