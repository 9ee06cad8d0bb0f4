package main

import (
	"fmt"
	"math"
	"slices"
)

// goal is one line of the goals table: a performance goal of the project,
// the figure measured for it, its range over the runs, the target and
// whether the figure meets it ("yes", "no", or "not measured" when the
// input lacks a benchmark it needs).
type goal struct {
	id, measure, figure, perRun, target, met string
}

// notMeasured is the met value of a goal whose benchmarks are missing.
const notMeasured = "not measured"

// at returns run i's value of a benchmark's metric.
func (all series) at(name, unit string, i int) (float64, bool) {
	xs := all[name][unit]
	if i >= len(xs) {
		return 0, false
	}
	return xs[i], true
}

// across evaluates f for each of n runs and returns the median of the
// values it has and the values (nil when it has none).
func across(n int, f func(i int) (float64, bool)) (float64, []float64) {
	var vs []float64
	for i := range n {
		if v, ok := f(i); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return math.NaN(), nil
	}
	return median(slices.Clone(vs)), vs
}

// rangeOf is the "lo - hi" of vs, "" for fewer than two values.
func rangeOf(vs []float64, format func(float64) string) string {
	if len(vs) < 2 {
		return ""
	}
	return format(slices.Min(vs)) + " - " + format(slices.Max(vs))
}

// peers are the systems of the bench/ module other than firefly.
var peers = []string{"netrpc", "netrpc-yamux", "grpc", "arpc"}

// goals evaluates the performance goals over the runs read. instr is
// firefly's instruction count per CallSeq round trip (0 when not given): it
// comes from callgrind, not from the benchmark output.
func goals(all series, runs int, instr float64) []goal {
	var gs []goal
	// metric returns a per-run function for one benchmark's metric.
	metric := func(name, unit string) func(int) (float64, bool) {
		return func(i int) (float64, bool) { return all.at(name, unit, i) }
	}
	// perSec returns a per-run function for a benchmark's calls a second,
	// from its ns/op.
	perSec := func(name string) func(int) (float64, bool) {
		return func(i int) (float64, bool) {
			v, ok := all.at(name, "ns/op", i)
			return 1e9 / v, ok && v > 0
		}
	}
	// quotient returns a per-run function for f(i)/g(i).
	quotient := func(f, g func(int) (float64, bool)) func(int) (float64, bool) {
		return func(i int) (float64, bool) {
			a, ok1 := f(i)
			b, ok2 := g(i)
			return a / b, ok1 && ok2 && b != 0
		}
	}
	add := func(id, measure string, f func(int) (float64, bool), format func(float64) string, target string, ok func(float64) bool, figure func(float64) string) {
		v, vs := across(runs, f)
		g := goal{id: id, measure: measure, target: target, met: notMeasured}
		if vs != nil {
			g.figure = figure(v)
			g.perRun = rangeOf(vs, format)
			g.met = yes(ok(v))
			if target == "report" {
				g.met = "reported"
			}
		}
		gs = append(gs, g)
	}
	ratioFig := func(v float64) string { return x(v) }

	add("P1", "CallSeq over raw TCP ping-pong of the same sizes", quotient(metric("CallSeq", "ns/op"), metric("TCPPingPong", "ns/op")),
		x, "<= 1.6x", func(v float64) bool { return v <= 1.6 }, func(v float64) string {
			return fmt.Sprintf("%s (%s beside %s)", x(v), us(results(all, "CallSeq", "ns/op")), us(results(all, "TCPPingPong", "ns/op")))
		})
	add("P1", "CallSeq over raw TCP ping-pong, alternating in one loop (medians)", metric("CallSeqFloorPair", "ratio"),
		x, "<= 1.6x", func(v float64) bool { return v <= 1.6 }, func(v float64) string {
			return fmt.Sprintf("%s (%s beside %s)", x(v), us(results(all, "CallSeqFloorPair", "seq-p50-ns")), us(results(all, "CallSeqFloorPair", "tcp-p50-ns")))
		})
	if instr > 0 {
		gs = append(gs, goal{"P1", "instructions per CallSeq round trip, both ends (callgrind)", fmt.Sprintf("%.1fk", instr/1e3), "", "<= 20k", yes(instr <= 20e3)})
	} else {
		gs = append(gs, goal{"P1", "instructions per CallSeq round trip, both ends (callgrind)", "", "", "<= 20k", notMeasured})
	}
	add("P2", "CallParallel throughput over net/rpc's", quotient(metric("NetRPCCallParallel", "ns/op"), metric("CallParallel", "ns/op")),
		x, ">= 4x", func(v float64) bool { return v >= 4 }, func(v float64) string {
			s := x(v)
			if r, _ := across(runs, quotient(metric("NetRPCCallParallelOneProcessor", "ns/op"), metric("CallParallelOneProcessor", "ns/op"))); !math.IsNaN(r) {
				s += fmt.Sprintf(" (with one processor: %s)", x(r))
			}
			return s
		})
	best := func(i int) (float64, bool) {
		var lo float64
		found := false
		for _, p := range peers {
			if v, ok := all.at("CallParallel/"+p, "ns/op", i); ok && (!found || v < lo) {
				lo, found = v, true
			}
		}
		return lo, found
	}
	add("P2", "bench/ CallParallel throughput over the best peer's", quotient(best, metric("CallParallel/firefly", "ns/op")),
		x, ">= 2x", func(v float64) bool { return v >= 2 }, func(v float64) string {
			return x(v) + " (best: " + bestPeer(all, "CallParallel", "ns/op", false) + ")"
		})
	add("P3", "allocs per small call (CallSeq, 2 the benchmark's own)", metric("CallSeq", "allocs/op"),
		num, "<= 5", func(v float64) bool { return v <= 5 }, num)
	add("P5", "CallUnderBulk p99", metric("CallUnderBulk", "p99-ns"),
		us, "<= 100 us", func(v float64) bool { return v <= 100e3 }, func(v float64) string {
			floor := results(all, "TCPPingPongUnderBulk", "p99-ns")
			if math.IsNaN(floor) {
				return us(v)
			}
			return fmt.Sprintf("%s (raw TCP beside a bulk connection: %s)", us(v), us(floor))
		})
	add("P5", "bench/ CallUnderBulk p99 over arpc's", quotient(metric("CallUnderBulk/firefly", "p99-ns"), metric("CallUnderBulk/arpc", "p99-ns")),
		x, "<= 1x", func(v float64) bool { return v <= 1 }, func(v float64) string {
			return fmt.Sprintf("%s (%s beside %s)", x(v), us(results(all, "CallUnderBulk/firefly", "p99-ns")), us(results(all, "CallUnderBulk/arpc", "p99-ns")))
		})
	add("P5", "bench/ CallUnderBulk p50 over arpc's", quotient(metric("CallUnderBulk/firefly", "p50-ns"), metric("CallUnderBulk/arpc", "p50-ns")),
		x, "<= 1x", func(v float64) bool { return v <= 1 }, func(v float64) string {
			fig := fmt.Sprintf("%s (%s beside %s", x(v), us(results(all, "CallUnderBulk/firefly", "p50-ns")), us(results(all, "CallUnderBulk/arpc", "p50-ns")))
			if fb, ab := results(all, "CallUnderBulk/firefly", "bulk-MB/s"), results(all, "CallUnderBulk/arpc", "bulk-MB/s"); !math.IsNaN(fb) && !math.IsNaN(ab) {
				fig += fmt.Sprintf(", bulk %s beside %s", mbs(fb), mbs(ab))
			}
			if floor := results(all, "TCPPingPongUnderBulk", "p50-ns"); !math.IsNaN(floor) {
				fig += "; raw TCP beside a bulk connection: " + us(floor)
			}
			if mux := results(all, "MuxFloorUnderBulk", "p50-ns"); !math.IsNaN(mux) {
				fig += "; hand-written multiplexer sharing it: " + us(mux)
			}
			fq, aq := results(all, "WireUnderBulk/firefly", "quiet-%"), results(all, "WireUnderBulk/arpc", "quiet-%")
			if !math.IsNaN(fq) && !math.IsNaN(aq) {
				fig += fmt.Sprintf("; calls that met no bulk on the wire: %.0f%% at %s, arpc's %.0f%% at %s", fq,
					us(results(all, "WireUnderBulk/firefly", "quiet-p50-ns")), aq, us(results(all, "WireUnderBulk/arpc", "quiet-p50-ns")))
			}
			return fig + ")"
		})
	add("P6", "Callback over CallSeq", quotient(metric("Callback", "ns/op"), metric("CallSeq", "ns/op")),
		x, "<= 2.1x", func(v float64) bool { return v <= 2.1 }, ratioFig)
	add("P6", "Callback over CallSeq, alternating in one loop (medians)", metric("CallbackPair", "ratio"),
		x, "<= 2.1x", func(v float64) bool { return v <= 2.1 }, ratioFig)
	add("P7", "GateHop over a direct call", quotient(metric("GateHop", "ns/op"), metric("GateDirect", "ns/op")),
		x, "<= 2.1x", func(v float64) bool { return v <= 2.1 }, ratioFig)
	add("P7", "GateHop over a direct call, alternating in one loop (medians)", metric("GateHopPair", "ratio"),
		x, "<= 2.1x", func(v float64) bool { return v <= 2.1 }, ratioFig)
	perSide := func(i int) (float64, bool) {
		v, ok := all.at("IdleConn", "goroutines/conn", i)
		return v / 2, ok
	}
	add("P9", "goroutines per side of an idle connection (1,000 idle)", perSide,
		num1, "<= 2", func(v float64) bool { return v <= 2 }, func(v float64) string {
			return fmt.Sprintf("%s (net/rpc %s)", num1(v), num1(results(all, "NetRPCIdleConn", "goroutines/conn")/2))
		})
	add("P9", "heap per idle connection, both ends, over net/rpc's", quotient(metric("IdleConn", "heap-B/conn"), metric("NetRPCIdleConn", "heap-B/conn")),
		x, "<= 1x", func(v float64) bool { return v <= 1 }, func(v float64) string {
			return fmt.Sprintf("%s (%s beside %s)", x(v), kib(results(all, "IdleConn", "heap-B/conn")), kib(results(all, "NetRPCIdleConn", "heap-B/conn")))
		})
	p10 := len(gs)
	add("P10", "10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'", quotient(metric("Call10kCallers", "calls/s"), perSec("CallParallel")),
		x, ">= 0.8x", func(v float64) bool { return v >= 0.8 }, func(v float64) string {
			s := fmt.Sprintf("%s (%.0f calls/s beside %.0f)", x(v), results(all, "Call10kCallers", "calls/s"), 1e9/results(all, "CallParallel", "ns/op"))
			if r, _ := across(runs, quotient(metric("Call10kCallers", "rest-calls/s"), perSec("CallParallel"))); !math.IsNaN(r) {
				s += fmt.Sprintf("; the first tenth of a burst's answers in at %.0f%% of its time, the other nine tenths at %s the 64 callers' rate",
					100*results(all, "Call10kCallers", "tenth-share"), x(r))
			}
			if f, st := results(all, "Call10kCallers", "first-share"), results(all, "Call10kCallers", "start-share"); !math.IsNaN(f) && !math.IsNaN(st) {
				s += fmt.Sprintf("; the first answer in at %.0f%%, the callers all started at %.0f%%", 100*f, 100*st)
			}
			// The bursts' goroutines alone (started and ended with no call)
			// over the 64 callers' time for as many calls as a burst makes.
			alone := quotient(metric("BurstsAlone", "ns/op"), func(i int) (float64, bool) {
				v, ok := all.at("CallParallel", "ns/op", i)
				return 10000 * v, ok
			})
			if a, _ := across(runs, alone); !math.IsNaN(a) {
				s += fmt.Sprintf("; 10,000 goroutines started and ended with no call take %s the 64 callers' time for 10,000 calls", x(a))
			}
			if f, _ := across(runs, quotient(metric("MuxFloor10kCallers", "calls/s"), perSec("MuxFloorParallel"))); !math.IsNaN(f) {
				s += fmt.Sprintf("; hand-written floor %s", x(f))
			}
			if r, _ := across(runs, quotient(metric("Call10kCallersRecord", "calls/s"), perSec("CallParallel"))); !math.IsNaN(r) {
				s += fmt.Sprintf("; making the 64 callers' own call (a record, no deadline) %s", x(r))
			}
			return s
		})
	if n := len(all["Call10kCallers"]["failed"]); n > 0 {
		gs[p10].met = fmt.Sprintf("no (failed in %d runs)", n)
	}
	p10 = len(gs)
	add("P10", "10,000 callers started afresh for each burst over 64 callers, alternating in one loop (medians)", metric("Call10kCallersPair", "ratio"),
		x, ">= 0.8x", func(v float64) bool { return v >= 0.8 }, func(v float64) string {
			s := fmt.Sprintf("%s (%.0f calls/s beside %.0f)", x(v), results(all, "Call10kCallersPair", "bursts-calls/s"), results(all, "Call10kCallersPair", "64-calls/s"))
			if a := results(all, "Call10kCallersPairApart", "ratio"); !math.IsNaN(a) {
				s += fmt.Sprintf("; with the servers in a process of their own %s (%.0f calls/s beside %.0f)", x(a),
					results(all, "Call10kCallersPairApart", "bursts-calls/s"), results(all, "Call10kCallersPairApart", "64-calls/s"))
			}
			return s
		})
	if n := len(all["Call10kCallersPair"]["failed"]); n > 0 {
		gs[p10].met = fmt.Sprintf("no (failed in %d runs)", n)
	}
	p10 = len(gs)
	add("P10", "10,000 long-lived callers on one connection (as the 64 are), every call answered: throughput over 64 callers'", quotient(perSec("Call10kParallel"), perSec("CallParallel")),
		x, ">= 0.8x", func(v float64) bool { return v >= 0.8 }, func(v float64) string {
			s := fmt.Sprintf("%s (%.0f calls/s beside %.0f)", x(v), 1e9/results(all, "Call10kParallel", "ns/op"), 1e9/results(all, "CallParallel", "ns/op"))
			if f, _ := across(runs, quotient(metric("MuxFloorParallel", "ns/op"), metric("MuxFloor10kParallel", "ns/op"))); !math.IsNaN(f) {
				s += fmt.Sprintf("; hand-written floor %s", x(f))
			}
			return s
		})
	if n := len(all["Call10kParallel"]["failed"]); n > 0 {
		gs[p10].met = fmt.Sprintf("no (failed in %d runs)", n)
	}
	reported := func(float64) bool { return true }
	add("P11", "a Root's one-way message to 1,000 children, until the last has it", metric("Broadcast/all", "ns/op"),
		ms, "report", reported, ms)
	add("P11", "1,000 sequential one-way sends to one child", metric("Broadcast/seq", "ns/op"),
		ms, "report", reported, ms)
	return gs
}

// results is the median of a benchmark's metric over the runs (NaN when
// missing).
func results(all series, name, unit string) float64 {
	xs := all[name][unit]
	if len(xs) == 0 {
		return math.NaN()
	}
	return median(slices.Clone(xs))
}

// bestPeer names the peer with the best median of a bench/ scenario's
// metric (the lowest, or the highest with high) and the figure.
func bestPeer(all series, scenario, unit string, high bool) string {
	name, best := "", math.NaN()
	for _, p := range peers {
		v := results(all, scenario+"/"+p, unit)
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(best) || (high && v > best) || (!high && v < best) {
			name, best = p, v
		}
	}
	if name == "" {
		return "none"
	}
	return name + " " + us(best)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func num1(v float64) string { return fmt.Sprintf("%.1f", v) }
func kib(b float64) string  { return fmt.Sprintf("%.0f KiB", b/1024) }
