// Command benchratio reads the output of the project's benchmarks and prints
// firefly's numbers beside net/rpc's and the other systems' from the same
// run, as ratios, and the performance goals P1-P11 with their figures and
// whether each is met:
//
//	go test -run '^$' -bench . -benchtime 2s . | go run ./cmd/benchratio
//
// The output of rpc's BenchmarkBroadcast and of the bench/ module (arpc,
// gRPC, net/rpc over yamux) can be piped in with it, and the callgrind
// count of CallSeq's instructions per round trip given with -instr:
//
//	(go test -run '^$' -bench . .; go test -run '^$' -bench Broadcast ./rpc/;
//	 cd bench && go test -run '^$' -bench .) | go run ./cmd/benchratio -instr 40281
//
// Each BenchmarkX is paired with BenchmarkNetRPCX when present. Lines it does
// not understand are ignored, so the whole output can be piped in; a
// benchmark's "--- FAIL" line counts against the goal it serves. When a
// benchmark appears more than once (-count N, or the output of several runs
// one after another), each of its metrics is the median of its values, each
// ratio is the median of the runs' own ratios (the i-th value of one
// benchmark against the i-th of the other), with their range beside it, and
// the table says over how many runs:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench . -benchtime 2s .; done | go run ./cmd/benchratio
//
// The benchmarks whose times a virtual machine moves most report steal-%,
// the share of the machine's CPU time its hypervisor gave other guests
// while they ran; a last line gives it for each run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// result is one benchmark's metrics, by unit ("ns/op", "MB/s", ...): the
// median of the values seen.
type result map[string]float64

// failLine matches "--- FAIL: BenchmarkName-2", a benchmark that failed: it
// is recorded as the metric "failed" of that benchmark.
var failLine = regexp.MustCompile(`^\s*--- FAIL: Benchmark(\S+?)(?:-\d+)?(?:\s|$)`)

// benchLine matches "BenchmarkName-2   123   456 ns/op   7 B/op ...".
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// series holds each benchmark's values of each metric, one per run, in the
// order read.
type series map[string]map[string][]float64

// parse reads benchmark output and returns each benchmark's metrics (the
// medians), every value read, the machine header lines (each once), and the
// most times any benchmark ran.
func parse(r io.Reader) (map[string]result, series, []string, int, error) {
	values := make(series)
	var header []string
	seen := make(map[string]bool)
	runs := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		for _, h := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, h) && !seen[line] {
				seen[line] = true
				header = append(header, line)
			}
		}
		if m := failLine.FindStringSubmatch(line); m != nil {
			if values[m[1]] == nil {
				values[m[1]] = make(map[string][]float64)
			}
			values[m[1]]["failed"] = append(values[m[1]]["failed"], 1)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := values[m[1]]
		if v == nil {
			v = make(map[string][]float64)
			values[m[1]] = v
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			v[f[i+1]] = append(v[f[i+1]], x)
			runs = max(runs, len(v[f[i+1]]))
		}
	}
	results := make(map[string]result, len(values))
	for name, v := range values {
		res := result{}
		for unit, xs := range v {
			res[unit] = median(slices.Clone(xs))
		}
		results[name] = res
	}
	return results, values, header, runs, sc.Err()
}

// ratio compares a metric of benchmark a with the same metric of b, run by
// run (the i-th value of each comes from the i-th run): a/b, or b/a with inv.
// It returns the median of the runs' ratios, which keeps each comparison
// within one run (NaN when either benchmark is missing), and the ratios.
func (all series) ratio(a, b, unit string, inv bool) (float64, []float64) {
	xa, xb := all[a][unit], all[b][unit]
	var rs []float64
	for i := range min(len(xa), len(xb)) {
		if inv {
			rs = append(rs, xb[i]/xa[i])
		} else {
			rs = append(rs, xa[i]/xb[i])
		}
	}
	if len(rs) == 0 {
		return math.NaN(), nil
	}
	return median(slices.Clone(rs)), rs
}

// spread returns the range of f over the runs, "lo-hi" ("" with fewer than
// two): f(i) is run i's value, ok false where a run lacks it.
func spread(n int, f func(i int) (float64, bool), format func(float64) string) string {
	var vs []float64
	for i := range n {
		if v, ok := f(i); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) < 2 {
		return ""
	}
	return format(slices.Min(vs)) + " - " + format(slices.Max(vs))
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count). xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// row is one line of the comparison table.
type row struct {
	name, ours, theirs, ratio, perRun string
}

// compare returns the rows of firefly's root benchmarks beside net/rpc's
// from the same runs.
func compare(results map[string]result, all series, runs int) []row {
	var rows []row
	pair := func(name string) (result, result, bool) {
		a, ok1 := results[name]
		b, ok2 := results["NetRPC"+name]
		return a, b, ok1 && ok2
	}
	ratio := func(a, b, unit string, inv bool) (float64, string) {
		r, rs := all.ratio(a, b, unit, inv)
		return r, spread(len(rs), func(i int) (float64, bool) { return rs[i], true }, x)
	}
	values := func(a, unit string, format func(float64) string) string {
		return spread(runs, func(i int) (float64, bool) { return all.at(a, unit, i) }, format)
	}
	if a, b, ok := pair("CallSeq"); ok {
		r, rng := ratio("CallSeq", "NetRPCCallSeq", "ns/op", false)
		rows = append(rows, row{"CallSeq time", us(a["ns/op"]), us(b["ns/op"]), x(r), rng})
		rows = append(rows, row{"CallSeq allocs/op", num(a["allocs/op"]), num(b["allocs/op"]), "", values("CallSeq", "allocs/op", num)})
	}
	if a, ok := results["CallSeqDeadline"]; ok {
		if _, ok := results["CallSeq"]; ok {
			r, rng := ratio("CallSeqDeadline", "CallSeq", "ns/op", false)
			rows = append(rows, row{"CallSeq with a deadline on its context, over CallSeq", us(a["ns/op"]), "", x(r), rng})
		}
	}
	if a, ok := results["TCPPingPong"]; ok {
		rows = append(rows, row{fmt.Sprintf("raw TCP ping-pong, %v bytes and %v back", a["req-bytes"], a["resp-bytes"]), us(a["ns/op"]), "", "", values("TCPPingPong", "ns/op", us)})
	}
	if a, ok := results["TCPPingPongHandOff"]; ok {
		rows = append(rows, row{"raw TCP ping-pong with a goroutine hand-off on each side", us(a["ns/op"]), "", "", values("TCPPingPongHandOff", "ns/op", us)})
		if _, ok := results["TCPPingPong"]; ok {
			r, rng := ratio("TCPPingPongHandOff", "TCPPingPong", "ns/op", false)
			rows = append(rows, row{"same, over raw TCP ping-pong (the hand-offs alone)", "", "", x(r), rng})
		}
		if _, ok := results["CallSeq"]; ok {
			r, rng := ratio("CallSeq", "TCPPingPongHandOff", "ns/op", false)
			rows = append(rows, row{"CallSeq over raw TCP ping-pong with the hand-offs", "", "", x(r), rng})
		}
	}
	for _, one := range []struct{ name, label string }{
		{"TCPPingPongHandOffFar", "the far end's hand-off alone (the caller reads its answer)"},
		{"TCPPingPongHandOffNear", "the near end's hand-off alone (the far end answers on its reader)"},
	} {
		a, ok := results[one.name]
		if !ok {
			continue
		}
		name := "raw TCP ping-pong with " + one.label
		if _, ok := results["TCPPingPong"]; !ok {
			rows = append(rows, row{name, us(a["ns/op"]), "", "", values(one.name, "ns/op", us)})
			continue
		}
		r, rng := ratio(one.name, "TCPPingPong", "ns/op", false)
		rows = append(rows, row{name + ": time, and over raw TCP ping-pong", us(a["ns/op"]), "", x(r), rng})
	}
	if a, ok := results["CallSeqFloorPair"]; ok {
		rows = append(rows, row{"CallSeq vs raw TCP ping-pong, alternating in one loop (medians)", us(a["seq-p50-ns"]), us(a["tcp-p50-ns"]) + " (TCP)", x(a["ratio"]), values("CallSeqFloorPair", "ratio", x)})
		rows = append(rows, row{"same loop, means (slow tails included)", "", "", x(a["mean-ratio"]), values("CallSeqFloorPair", "mean-ratio", x)})
	}
	if a, b, ok := pair("CallParallel"); ok {
		r, rng := ratio("CallParallel", "NetRPCCallParallel", "ns/op", true)
		rows = append(rows, row{"CallParallel throughput (64 callers)", us(a["ns/op"]), us(b["ns/op"]), x(r), rng})
	}
	if a, b, ok := pair("CallParallel"); ok && a["cpu-ns/call"] > 0 && b["cpu-ns/call"] > 0 {
		r, rng := ratio("CallParallel", "NetRPCCallParallel", "cpu-ns/call", false)
		rows = append(rows, row{"CallParallel CPU per call, both ends", us(a["cpu-ns/call"]), us(b["cpu-ns/call"]), x(r), rng})
		busy := func(name string) func(int) (float64, bool) {
			return func(i int) (float64, bool) {
				cpu, ok1 := all.at(name, "cpu-ns/call", i)
				wall, ok2 := all.at(name, "ns/op", i)
				return cpu / wall, ok1 && ok2 && wall > 0
			}
		}
		ours, _ := across(runs, busy("CallParallel"))
		theirs, _ := across(runs, busy("NetRPCCallParallel"))
		rows = append(rows, row{"CallParallel processors busy (CPU time over the time a call takes)", fmt.Sprintf("%.2f", ours), fmt.Sprintf("%.2f", theirs), "", spread(runs, busy("CallParallel"), func(v float64) string { return fmt.Sprintf("%.2f", v) })})
	}
	if a, b, ok := pair("CallParallelOneProcessor"); ok {
		r, rng := ratio("CallParallelOneProcessor", "NetRPCCallParallelOneProcessor", "ns/op", true)
		rows = append(rows, row{"CallParallel throughput with one processor (GOMAXPROCS 1)", us(a["ns/op"]), us(b["ns/op"]), x(r), rng})
	}
	if a, ok := results["Call10kCallers"]; ok {
		perSec := func(v float64) string { return fmt.Sprintf("%.0f", v) }
		b, peer := results["NetRPCCall10kCallers"]
		if !peer {
			rows = append(rows, row{"10,000 callers on one connection", fmt.Sprintf("%.0f calls/s", a["calls/s"]), "", "", values("Call10kCallers", "calls/s", perSec)})
		} else {
			r, rng := ratio("Call10kCallers", "NetRPCCall10kCallers", "calls/s", false)
			rows = append(rows, row{"10,000 callers on one connection", fmt.Sprintf("%.0f calls/s", a["calls/s"]), fmt.Sprintf("%.0f calls/s", b["calls/s"]), x(r), rng})
		}
		if a["cpu-ns/call"] > 0 {
			theirs, r, rng := "", "", values("Call10kCallers", "cpu-ns/call", us)
			if peer && b["cpu-ns/call"] > 0 {
				var v float64
				v, rng = ratio("Call10kCallers", "NetRPCCall10kCallers", "cpu-ns/call", false)
				theirs, r = us(b["cpu-ns/call"]), x(v)
			}
			rows = append(rows, row{"10,000 callers: CPU per call, both ends", us(a["cpu-ns/call"]), theirs, r, rng})
		}
	}
	if a, ok := results["Call10kCallersRecord"]; ok {
		perSec := func(v float64) string { return fmt.Sprintf("%.0f", v) }
		rows = append(rows, row{"10,000 callers making the 64 callers' own call (a record, no deadline)", fmt.Sprintf("%.0f calls/s", a["calls/s"]), "", "", values("Call10kCallersRecord", "calls/s", perSec)})
	}
	for _, p := range []struct{ name, row string }{
		{"Call10kCallersPair", "10,000 fresh callers vs 64 callers, alternating in one loop: calls/s (medians)"},
		{"Call10kCallersPairApart", "same, the servers in a process of their own"},
	} {
		if a, ok := results[p.name]; ok {
			rows = append(rows, row{p.row, fmt.Sprintf("%.0f calls/s", a["bursts-calls/s"]), fmt.Sprintf("%.0f calls/s (64 callers)", a["64-calls/s"]), x(a["ratio"]), values(p.name, "ratio", x)})
		}
	}
	if a, b, ok := pair("Call10kParallel"); ok {
		r, rng := ratio("Call10kParallel", "NetRPCCall10kParallel", "ns/op", true)
		rows = append(rows, row{"10,000 long-lived callers on one connection: throughput", us(a["ns/op"]), us(b["ns/op"]), x(r), rng})
		if a["cpu-ns/call"] > 0 && b["cpu-ns/call"] > 0 {
			r, rng := ratio("Call10kParallel", "NetRPCCall10kParallel", "cpu-ns/call", false)
			rows = append(rows, row{"10,000 long-lived callers: CPU per call, both ends", us(a["cpu-ns/call"]), us(b["cpu-ns/call"]), x(r), rng})
		}
	}
	if a, ok := results["BurstsAlone"]; ok {
		rows = append(rows, row{"bursts of 10,000 goroutines started and ended with no call (the bursts' own cost): goroutines/s, and CPU a goroutine",
			fmt.Sprintf("%.0f/s", a["calls/s"]), us(a["cpu-ns/call"]), "", values("BurstsAlone", "calls/s", func(v float64) string { return fmt.Sprintf("%.0f", v) })})
	}
	if a, ok := results["MuxFloorParallel"]; ok {
		rows = append(rows, row{"hand-written floor, 64 callers on one connection: time a call", us(a["ns/op"]), "", "", values("MuxFloorParallel", "ns/op", us)})
		if b, ok := results["MuxFloor10kParallel"]; ok {
			r, rng := ratio("MuxFloor10kParallel", "MuxFloorParallel", "ns/op", true)
			rows = append(rows, row{"same floor, 10,000 callers: time a call, and throughput over 64 callers'", us(b["ns/op"]), "", x(r), rng})
		}
		if b, ok := results["MuxFloor10kCallers"]; ok && a["ns/op"] > 0 {
			r, rs := across(runs, func(i int) (float64, bool) {
				c, ok1 := all.at("MuxFloor10kCallers", "calls/s", i)
				t, ok2 := all.at("MuxFloorParallel", "ns/op", i)
				return c * t / 1e9, ok1 && ok2
			})
			rows = append(rows, row{"same floor, bursts of 10,000 fresh callers: calls/s, and throughput over 64 callers'", fmt.Sprintf("%.0f calls/s", b["calls/s"]), "", x(r), rangeOf(rs, x)})
		}
	}
	if a, b, ok := pair("Echo1MiB"); ok {
		r, rng := ratio("Echo1MiB", "NetRPCEcho1MiB", "MB/s", false)
		rows = append(rows, row{"Echo1MiB throughput", mbs(a["MB/s"]), mbs(b["MB/s"]), x(r), rng})
	}
	if a, b, ok := pair("CallUnderBulk"); ok {
		rows = append(rows, row{"CallUnderBulk p50", ms(a["p50-ns"]), ms(b["p50-ns"]), x(a["p50-ns"] / b["p50-ns"]), values("CallUnderBulk", "p50-ns", ms)})
		rows = append(rows, row{"CallUnderBulk p99", ms(a["p99-ns"]), ms(b["p99-ns"]), x(a["p99-ns"] / b["p99-ns"]), values("CallUnderBulk", "p99-ns", ms)})
		if a["bulk-MB/s"] > 0 && b["bulk-MB/s"] > 0 {
			r, rng := ratio("CallUnderBulk", "NetRPCCallUnderBulk", "bulk-MB/s", false)
			rows = append(rows, row{"same, the 16 MiB echoes' own throughput meanwhile", mbs(a["bulk-MB/s"]), mbs(b["bulk-MB/s"]), x(r), rng})
		}
	}
	if a, ok := results["TCPPingPongUnderBulk"]; ok {
		rows = append(rows, row{"raw TCP ping-pong beside a 16 MiB echo on another connection, p50", us(a["p50-ns"]), "", "", values("TCPPingPongUnderBulk", "p50-ns", us)})
		rows = append(rows, row{"same, p99", us(a["p99-ns"]), "", "", values("TCPPingPongUnderBulk", "p99-ns", us)})
	}
	if a, ok := results["MuxFloorUnderBulk"]; ok {
		rows = append(rows, row{"hand-written multiplexer, round trips sharing their connection with a 16 MiB echo cut in frames, p50", us(a["p50-ns"]), "", "", values("MuxFloorUnderBulk", "p50-ns", us)})
		rows = append(rows, row{"same multiplexer, p99", us(a["p99-ns"]), "", "", values("MuxFloorUnderBulk", "p99-ns", us)})
		rows = append(rows, row{"same multiplexer, the echoes' own throughput meanwhile", mbs(a["bulk-MB/s"]), "", "", values("MuxFloorUnderBulk", "bulk-MB/s", mbs)})
	}
	if a, b, ok := pair("IdleConn"); ok {
		rows = append(rows, row{"idle connection, both ends: goroutines", num1(a["goroutines/conn"]), num1(b["goroutines/conn"]), "", values("IdleConn", "goroutines/conn", num1)})
		r, rng := ratio("IdleConn", "NetRPCIdleConn", "heap-B/conn", false)
		rows = append(rows, row{"idle connection, both ends: heap", kib(a["heap-B/conn"]), kib(b["heap-B/conn"]), x(r), rng})
	}
	if cb, ok := results["Callback"]; ok {
		if seq, ok := results["CallSeq"]; ok {
			r, rng := ratio("Callback", "CallSeq", "ns/op", false)
			rows = append(rows, row{"Callback vs CallSeq", us(cb["ns/op"]), us(seq["ns/op"]) + " (CallSeq)", x(r), rng})
		}
	}
	if pair, ok := results["CallbackPair"]; ok {
		rows = append(rows, row{"Callback vs CallSeq, alternating in one loop (medians)", us(pair["callback-p50-ns"]), us(pair["seq-p50-ns"]) + " (CallSeq)", x(pair["ratio"]), values("CallbackPair", "ratio", x)})
		if r, ok := pair["twice-ratio"]; ok {
			rows = append(rows, row{"two CallSeq calls in a row, same loop", "", "", x(r), values("CallbackPair", "twice-ratio", x)})
		}
		if r, ok := pair["root-ratio"]; ok {
			rows = append(rows, row{"callback to the client's root (no reference), same loop", "", "", x(r), values("CallbackPair", "root-ratio", x)})
		}
		if r, ok := pair["mean-ratio"]; ok {
			rows = append(rows, row{"Callback vs CallSeq, same loop, means (slow tails included)", "", "", x(r), values("CallbackPair", "mean-ratio", x)})
		}
	}
	if hop, ok := results["GateHop"]; ok {
		if direct, ok := results["GateDirect"]; ok {
			r, rng := ratio("GateHop", "GateDirect", "ns/op", false)
			rows = append(rows, row{"GateHop vs GateDirect", us(hop["ns/op"]), us(direct["ns/op"]) + " (direct)", x(r), rng})
		}
	}
	if pair, ok := results["GateHopPair"]; ok {
		rows = append(rows, row{"GateHop vs GateDirect, alternating in one loop (medians)", us(pair["hop-p50-ns"]), us(pair["direct-p50-ns"]) + " (direct)", x(pair["ratio"]), values("GateHopPair", "ratio", x)})
		rows = append(rows, row{"two direct calls in a row, same loop", "", "", x(pair["twice-ratio"]), values("GateHopPair", "twice-ratio", x)})
		rows = append(rows, row{"GateHop vs GateDirect, same loop, means (slow tails included)", "", "", x(pair["mean-ratio"]), values("GateHopPair", "mean-ratio", x)})
	}
	if a, ok := results["Broadcast/all"]; ok {
		rows = append(rows, row{"one-way message to 1,000 children, until the last has it", ms(a["ns/op"]), "", "", values("Broadcast/all", "ns/op", ms)})
	}
	if a, ok := results["Broadcast/seq"]; ok {
		rows = append(rows, row{"1,000 sequential one-way sends to one child", ms(a["ns/op"]), "", "", values("Broadcast/seq", "ns/op", ms)})
	}
	return rows
}

// systems are the bench/ module's systems, in its order.
var systems = append([]string{"firefly"}, peers...)

// peerTable returns the lines of the bench/ module's table (none when its
// output was not read): each system's medians per scenario.
func peerTable(results map[string]result) []string {
	var lines []string
	for _, s := range systems {
		seq, ok1 := results["CallSeq/"+s]
		par, ok2 := results["CallParallel/"+s]
		echo, ok3 := results["Echo1MiB/"+s]
		bulk, ok4 := results["CallUnderBulk/"+s]
		if !ok1 && !ok2 && !ok3 && !ok4 {
			continue
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", s,
			us(seq["ns/op"]), num(seq["allocs/op"]), us(par["ns/op"]), mbs(echo["MB/s"]), us(bulk["p50-ns"]), us(bulk["p99-ns"]), mbs(bulk["bulk-MB/s"])))
	}
	if lines == nil {
		return nil
	}
	return append([]string{
		"| bench/ system | CallSeq | allocs | CallParallel | Echo1MiB | UnderBulk p50 | p99 | its bulk |",
		"|---|---|---|---|---|---|---|---|",
	}, lines...)
}

// wireTable returns the lines of the bench/ module's WireUnderBulk table
// (none when its output was not read): for each system, what its small
// calls met on their connection while the 16 MiB echoes ran, and the
// median latency of the calls that met no bulk there and of the others.
func wireTable(results map[string]result) []string {
	var lines []string
	for _, s := range systems {
		w, ok := results["WireUnderBulk/"+s]
		if !ok {
			continue
		}
		lines = append(lines, fmt.Sprintf("| %s | %.0f B | %.1f%% | %s | %s |", s,
			w["p50-wire-B"], w["quiet-%"], us(w["quiet-p50-ns"]), us(w["shared-p50-ns"])))
	}
	if lines == nil {
		return nil
	}
	return append([]string{
		"| bench/ system, under bulk | bytes on the wire in a call's time (median) | calls that met no bulk | their p50 | the others' p50 |",
		"|---|---|---|---|---|",
	}, lines...)
}

func main() {
	instr := flag.Float64("instr", 0, "instructions per CallSeq round trip, client and server together, measured with callgrind (goal P1)")
	flag.Parse()
	results, all, header, runs, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchratio: no benchmark lines on standard input")
		os.Exit(1)
	}
	for _, h := range header {
		fmt.Println(h)
	}
	if runs > 1 {
		fmt.Printf("medians of %d runs\n", runs)
	}
	fmt.Println()
	fmt.Println("| measure | firefly | net/rpc | ratio | per run |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range compare(results, all, runs) {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.name, r.ours, r.theirs, r.ratio, r.perRun)
	}
	for _, t := range [][]string{peerTable(results), wireTable(results)} {
		if t == nil {
			continue
		}
		fmt.Println()
		for _, l := range t {
			fmt.Println(l)
		}
	}
	fmt.Println()
	fmt.Println("| goal | measure | figure | per run | target | met |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, g := range goals(all, runs, *instr) {
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", g.id, g.measure, g.figure, g.perRun, g.target, g.met)
	}
	if line := stealLine(all, runs); line != "" {
		fmt.Println()
		fmt.Println(line)
	}
}

func us(ns float64) string { return fmt.Sprintf("%.1f us", ns/1e3) }
func ms(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
func mbs(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
func x(r float64) string   { return strconv.FormatFloat(r, 'g', 3, 64) + "x" }
