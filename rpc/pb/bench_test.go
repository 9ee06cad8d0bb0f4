package pb

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
)

type benchRoot struct{}

func (benchRoot) RemoteAdd(a, b int) int { return a + b }

// BenchmarkCallSeq is one call at a time, Go to Go, over the PB wire and
// over the firefly wire, on loopback.
func BenchmarkCallSeq(b *testing.B) {
	ctx := context.Background()
	b.Run("pb", func(b *testing.B) {
		c, err := Dial(ctx, "tcp", serveBench(b).String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchCalls(b, c.Root())
	})
	b.Run("firefly", func(b *testing.B) {
		srv, err := rpc.NewServer(benchRoot{})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		c, err := rpc.Dial(ctx, "tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchCalls(b, c.Root())
	})
}

// serveBench serves benchRoot on the PB wire on a loopback port until the
// benchmark ends, and returns its address.
func serveBench(b *testing.B) net.Addr {
	srv, err := NewServer(benchRoot{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	return ln.Addr()
}

func benchCalls(b *testing.B, root *rpc.Ref) {
	ctx := context.Background()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		if err := root.Call(ctx, "add", &n, 1, 2); err != nil || n != 3 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkTwistedClients runs the same Python clients against a Go PB
// server and then against a Twisted one (bench_server.py), in each
// iteration, and reports for each server the calls per second and the CPU
// time the server process spent per call, and the ratios Go/Twisted of both
// from the same iteration (cpu-ratio: Twisted's CPU per call over Go's). The
// Go server's CPU is this process's (/proc/self/stat), Twisted's its
// process's (/proc/PID/stat).
//
// Two kinds of client, each its own sub-benchmark:
//   - twisted: Twisted's own PBClientFactory (bench_client.py: 4 processes,
//     16 calls in flight each). It costs about as much CPU per call as a
//     Twisted server, and shares the two cores with the server, so it
//     bounds calls/s: the benchmark reports the bound of two runs that keep
//     the cores busy as calls-ratio-bound.
//   - wire: a PB client on a bare socket (bench_wire_client.py: 2
//     processes, 64 calls in flight each), which checks every answer and
//     costs a few microseconds per call, so calls/s is the server's.
func BenchmarkTwistedClients(b *testing.B) {
	py := twistedPython(b)
	goPort := serveBench(b).(*net.TCPAddr).Port
	tw := startPython(b, py, "bench_server.py", "", "0")
	line := tw.WaitFor(b, "the server to listen", func(l string) bool { return strings.HasPrefix(l, "listening ") })
	twPort, _ := strconv.Atoi(strings.TrimPrefix(line, "listening "))
	b.Run("clients=twisted", func(b *testing.B) {
		benchPythonClients(b, py, "bench_client.py", 4, 16, goPort, twPort, tw.Cmd.Process.Pid)
	})
	b.Run("clients=wire", func(b *testing.B) {
		benchPythonClients(b, py, "bench_wire_client.py", 2, 64, goPort, twPort, tw.Cmd.Process.Pid)
	})
}

// benchPythonClients runs procs processes of script, each keeping conc
// calls in flight for 2 s, against the Go server on goPort and then the
// Twisted server (process twPID) on twPort, once an iteration.
func benchPythonClients(b *testing.B, py, script string, procs, conc, goPort, twPort, twPID int) {
	const seconds = 2
	load := func(port int, serverCPU func() time.Duration) (callsPerSec, cpuPerCall, clientCPUPerCall float64) {
		var ps []*pyProc
		for range procs {
			ps = append(ps, startPython(b, py, script, "", strconv.Itoa(port), strconv.Itoa(conc), strconv.Itoa(seconds)))
		}
		cpu0 := serverCPU()
		total, clientCPU := 0, 0.0
		for _, p := range ps {
			line := p.WaitFor(b, "its count", func(l string) bool { return strings.HasPrefix(l, "calls ") })
			f := strings.Fields(line)
			if len(f) != 3 {
				b.Fatalf("%s: %q", script, line)
			}
			n, err := strconv.Atoi(f[1])
			sec, err2 := strconv.ParseFloat(f[2], 64)
			if err != nil || err2 != nil || n <= 0 {
				b.Fatalf("%s: %q", script, line)
			}
			total += n
			clientCPU += sec
		}
		cpu := serverCPU() - cpu0
		for _, p := range ps {
			p.Kill()
		}
		return float64(total) / seconds, float64(cpu.Microseconds()) / float64(total), clientCPU * 1e6 / float64(total)
	}

	// Server and clients share the machine's cores. A run that keeps them
	// all busy does the cores' time over the CPU a call costs both sides
	// together, so calls-ratio-bound is the calls ratio of two such runs:
	// (Twisted's + its clients' CPU per call) over (Go's + its clients').
	// A calls ratio above it means the Twisted run left cores idle (its
	// server is one Python thread, so it uses one core at most).
	var goCalls, goCPU, twCalls, twCPU, callRatio, cpuRatio, clientCPU, bound float64
	for b.Loop() {
		gc, gcpu, gcl := load(goPort, func() time.Duration { return processCPU(b, os.Getpid()) })
		tc, tcpu, tcl := load(twPort, func() time.Duration { return processCPU(b, twPID) })
		goCalls, goCPU, twCalls, twCPU = goCalls+gc, goCPU+gcpu, twCalls+tc, twCPU+tcpu
		clientCPU += (gcl + tcl) / 2
		callRatio += gc / tc
		if gcpu > 0 {
			cpuRatio += tcpu / gcpu
		}
		bound += (tcpu + tcl) / (gcpu + gcl)
	}
	n := float64(b.N)
	b.ReportMetric(goCalls/n, "go-calls/s")
	b.ReportMetric(twCalls/n, "twisted-calls/s")
	b.ReportMetric(callRatio/n, "calls-ratio")
	b.ReportMetric(goCPU/n, "go-cpu-us/call")
	b.ReportMetric(twCPU/n, "twisted-cpu-us/call")
	b.ReportMetric(cpuRatio/n, "cpu-ratio")
	b.ReportMetric(clientCPU/n, "client-cpu-us/call")
	b.ReportMetric(bound/n, "calls-ratio-bound")
}

// processCPU is the user and system CPU time process pid has used, from
// /proc (zero where there is no /proc).
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name (which is in parentheses).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}
