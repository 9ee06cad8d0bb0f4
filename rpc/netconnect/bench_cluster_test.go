package netconnect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// The three-process benchmark runs each of net, gate and game1 in a
// process of its own (this test binary again, told its role by
// benchNodeEnv: "ROLE [GATE-ADDR]"), as a cluster runs them, and the
// clients in the benchmark's process.
const (
	benchNodeEnv = "NETCONNECT_BENCH_NODE"
	// benchProfileEnv, when set to a directory, makes each node process
	// write a CPU profile there, ROLE.pprof.
	benchProfileEnv = "NETCONNECT_BENCH_PROFILE"
)

// welcome is the gate's answer to command 1001 "GAME PLAYER": it asks
// GAME's handle(PLAYER) and frames the answer with the path it took. It
// builds the answer as the relay floor's gate does (bench_relay_test.go),
// so that the two do the same work of their own.
func welcome(ctx context.Context, root *distributed.Root, f Forwarded) ([]byte, error) {
	game, player, _ := bytes.Cut(f.Data, []byte(" "))
	var answer string
	if err := root.CallChild(ctx, string(game), "handle", &answer, string(player)); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2*len(f.Net)+len(game)+len(answer)+24)
	out = append(append(out, f.Net...), " -> gate -> "...)
	out = append(append(out, game...), " -> gate -> "...)
	out = append(append(out, f.Net...), ": "...)
	return append(out, answer...), nil
}

// welcomeHere is welcome's answer made by the front-end itself (the floor
// servers).
func welcomeHere(body []byte) []byte {
	game, player, _ := strings.Cut(string(body), " ")
	return fmt.Appendf(nil, "net -> gate -> %s -> gate -> net: %s welcomes %s", game, game, player)
}

// benchNode is a node process: it starts its role, prints "ready ADDR"
// (the address it listens on, or "-"), and runs until its standard input
// closes.
func benchNode() int {
	f := strings.Fields(os.Getenv(benchNodeEnv))
	if len(f) == 0 {
		return 2
	}
	if dir := os.Getenv(benchProfileEnv); dir != "" {
		out, err := os.Create(dir + "/" + f[0] + ".pprof")
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer func() {
				pprof.StopCPUProfile()
				out.Close()
			}()
		}
	}
	addr, stop, err := startNode(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, f[0]+":", err)
		return 1
	}
	defer stop()
	fmt.Println("ready", addr)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startNode starts the role f[0] ("gate", "game1", "net" with the gate's
// address in f[1], "bare", the floor, or one of the relay floor's, see
// startRelay) and returns where it listens and how to stop it.
func startNode(f []string) (string, func(), error) {
	if strings.HasPrefix(f[0], "relay-") {
		return startRelay(f)
	}
	ctx := context.Background()
	listen := func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	switch f[0] {
	case "gate":
		root, err := distributed.NewRoot()
		if err != nil {
			return "", nil, err
		}
		ln, err := listen()
		if err != nil {
			return "", nil, err
		}
		go root.Serve(ln)
		err = NewGate(root).HandleForwarding(func(ctx context.Context, f Forwarded) ([]byte, error) {
			return welcome(ctx, root, f)
		})
		return ln.Addr().String(), func() { root.Close() }, err
	case "game1":
		game := distributed.NewNode("game1")
		game.Service().Map("handle", func(player string) string { return "game1 welcomes " + player })
		if len(f) < 2 {
			return "", nil, fmt.Errorf("no gate address")
		}
		return "-", func() { game.Close() }, game.Connect(ctx, f[1])
	case "net":
		if len(f) < 2 {
			return "", nil, fmt.Errorf("no gate address")
		}
		node := distributed.NewNode("net")
		if err := node.Connect(ctx, f[1]); err != nil {
			return "", nil, err
		}
		srv := NewServer(WithMaxSessions(benchSessions), WithRateLimit(0, 0))
		if err := srv.Forward(Link{Call: node.CallRemote, Service: node.Service()}); err != nil {
			return "", nil, err
		}
		ln, err := listen()
		if err != nil {
			return "", nil, err
		}
		go srv.Serve(ctx, ln)
		return ln.Addr().String(), func() { srv.Close(); node.Close() }, nil
	case "bare":
		ln, err := listen()
		if err != nil {
			return "", nil, err
		}
		go serveBare(ln)
		return ln.Addr().String(), func() { ln.Close() }, nil
	}
	return "", nil, fmt.Errorf("unknown role %q", f[0])
}

// serveBare is the floor: a bare Go TCP server, a goroutine per
// connection, reading the packets and answering them itself.
func serveBare(ln net.Listener) {
	servePackets(ln, func() func([]byte) []byte { return welcomeHere })
}

// servePackets reads each connection ln accepts with a goroutine, in the
// default datapack, and answers each packet with the same command and the
// body its connection's answer function (from newAnswer) returns.
func servePackets(ln net.Listener, newAnswer func() func(body []byte) []byte) {
	var d Datapack
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			answer := newAnswer()
			rd := NewReader(&d, c)
			for {
				h, body, err := rd.Read()
				if err != nil {
					return
				}
				pkt, _ := d.Encode(h.Command, answer(body))
				if _, err := c.Write(pkt); err != nil {
					return
				}
			}
		}()
	}
}

// nodeProcess is a running node process.
type nodeProcess struct {
	role string
	pid  int
	addr string
}

// startNodeProcess starts a node process with spec ("ROLE [GATE-ADDR]")
// and waits until it is ready.
func startNodeProcess(b *testing.B, spec string) *nodeProcess {
	b.Helper()
	p := testutil.StartChild(b, benchNodeEnv+"="+spec)
	line := p.Next(b)
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		b.Fatalf("%s said %q", spec, line)
	}
	role, _, _ := strings.Cut(spec, " ")
	return &nodeProcess{role: role, pid: p.Pid(), addr: addr}
}

// BenchmarkThreeProcesses: 1,000 clients send command 1001 "game1 alice"
// through net -> gate -> game1 -> gate -> net, each of the three its own
// process, the clients in this one; beside it, the floor: the same clients
// and packets answered by a bare Go TCP server in a process of its own, and
// the relay floor: the same three processes written by hand for this one
// request (bench_relay_test.go). Each node's CPU time per request
// ("ROLE-cpu-us/op", Linux) says where the time goes, and steal-% the share
// of the machine's CPU time its hypervisor gave other guests meanwhile. The
// clients are raw sockets on one epoll loop ("epoll", as cheap as clients on
// other machines; Linux) or Clients, a goroutine each ("goroutines").
func BenchmarkThreeProcesses(b *testing.B) {
	gate := startNodeProcess(b, "gate")
	game := startNodeProcess(b, "game1 "+gate.addr)
	front := startNodeProcess(b, "net "+gate.addr)
	bare := startNodeProcess(b, "bare")
	relayGame := startNodeProcess(b, "relay-game1")
	relayGate := startNodeProcess(b, "relay-gate "+relayGame.addr)
	relayNet := startNodeProcess(b, "relay-net "+relayGate.addr)
	loads := []struct {
		name string
		run  func(b *testing.B, addr string, clients int, rate float64, body []byte, want string)
	}{{readEpoll, epollLoad}, {readGoroutines, requestLoad}}
	for _, load := range loads {
		for _, rate := range benchRates {
			for _, server := range []struct {
				name  string
				nodes []*nodeProcess
			}{
				{"cluster", []*nodeProcess{front, gate, game}},
				{"relay", []*nodeProcess{relayNet, relayGate, relayGame}},
				{"bare-tcp", []*nodeProcess{bare}},
			} {
				b.Run(load.name+"/"+server.name+"/"+rateName(rate), func(b *testing.B) {
					defer testutil.ReportSteal(b, testutil.MarkCPU())
					cpu := nodesCPU(server.nodes...)
					load.run(b, server.nodes[0].addr, benchClientsPerLoad, rate, []byte("game1 alice"),
						"net -> gate -> game1 -> gate -> net: game1 welcomes alice")
					cpu.report(b)
				})
			}
		}
	}
}

// cpuMark is the CPU time the node processes had used at a moment.
type cpuMark struct {
	nodes []*nodeProcess
	at    []time.Duration
}

func nodesCPU(nodes ...*nodeProcess) cpuMark {
	m := cpuMark{nodes: nodes}
	for _, n := range nodes {
		m.at = append(m.at, processCPUOf(n.pid))
	}
	return m
}

// report reports each node's CPU time per request since the mark, when it
// can be read (Linux's /proc).
func (m cpuMark) report(b *testing.B) {
	for i, n := range m.nodes {
		if now := processCPUOf(n.pid); now > 0 {
			b.ReportMetric(float64((now-m.at[i]).Microseconds())/float64(b.N), n.role+"-cpu-us/op")
		}
	}
}

// processCPUOf returns the user and system time process pid used, from
// /proc/PID/stat (in clock ticks, taken as 100 a second), or 0.
func processCPUOf(pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's name (in parentheses) are
	// space-separated; utime and stime are the 14th and 15th of the line.
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
