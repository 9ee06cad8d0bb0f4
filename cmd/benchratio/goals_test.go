package main

import (
	"strings"
	"testing"
)

// twoRuns is the output of two runs of the root benchmarks, rpc's
// BenchmarkBroadcast and the bench/ module, with numbers chosen so that each
// goal's figure is known.
const twoRuns = `goos: linux
BenchmarkCallSeq-2                 100   30000 ns/op   500 B/op   5 allocs/op
BenchmarkTCPPingPong-2             100   20000 ns/op   44.00 req-bytes   24.00 resp-bytes
BenchmarkCallSeqFloorPair-2        100   50000 ns/op   1.3 ratio   1.1 mean-ratio   26000 seq-p50-ns   20000 tcp-p50-ns
BenchmarkCallParallel-2            100    2000 ns/op
BenchmarkNetRPCCallParallel-2      100   10000 ns/op
BenchmarkCall10kCallers-2            3   100000000 ns/op   450000 calls/s
BenchmarkCall10kCallersPair-2       10   30000000 ns/op   600000 64-calls/s   420000 bursts-calls/s   0.7 ratio
BenchmarkCall10kParallel-2         100    4000 ns/op
BenchmarkCallUnderBulk-2           100   30000 ns/op   20000 p50-ns   90000 p99-ns
BenchmarkCallback-2                100   60000 ns/op
BenchmarkCallbackPair-2            100   60000 ns/op   2.05 ratio
BenchmarkGateHop-2                 100   70000 ns/op
BenchmarkGateHopPair-2             100   90000 ns/op   2.04 ratio
BenchmarkGateDirect-2              100   30000 ns/op
BenchmarkIdleConn-2                  2   1 ns/op   4.000 goroutines/conn   30000 heap-B/conn
BenchmarkNetRPCIdleConn-2            2   1 ns/op   2.000 goroutines/conn   33000 heap-B/conn
BenchmarkBroadcast/all-2            10   40000000 ns/op
BenchmarkBroadcast/seq-2            10    3000000 ns/op
BenchmarkCallParallel/firefly-2    100    2000 ns/op
BenchmarkCallParallel/netrpc-2     100    9000 ns/op
BenchmarkCallParallel/arpc-2       100    5000 ns/op
BenchmarkCallUnderBulk/firefly-2   100   1 ns/op   20000 p50-ns   90000 p99-ns
BenchmarkCallUnderBulk/arpc-2      100   1 ns/op   10000 p50-ns   100000 p99-ns
goos: linux
BenchmarkCallSeq-2                 100   34000 ns/op   500 B/op   5 allocs/op
BenchmarkTCPPingPong-2             100   20000 ns/op   44.00 req-bytes   24.00 resp-bytes
BenchmarkCallSeqFloorPair-2        100   50000 ns/op   1.7 ratio   1.2 mean-ratio   34000 seq-p50-ns   20000 tcp-p50-ns
BenchmarkCallParallel-2            100    2500 ns/op
BenchmarkNetRPCCallParallel-2      100   10000 ns/op
BenchmarkCall10kCallers-2            3   100000000 ns/op   300000 calls/s
BenchmarkCall10kCallersPair-2       10   30000000 ns/op   500000 64-calls/s   450000 bursts-calls/s   0.9 ratio
BenchmarkCall10kParallel-2         100    2500 ns/op
BenchmarkCallUnderBulk-2           100   30000 ns/op   20000 p50-ns   110000 p99-ns
BenchmarkCallback-2                100   68000 ns/op
BenchmarkCallbackPair-2            100   60000 ns/op   2.15 ratio
BenchmarkGateHop-2                 100   66000 ns/op
BenchmarkGateHopPair-2             100   90000 ns/op   2.2 ratio
BenchmarkGateDirect-2              100   30000 ns/op
BenchmarkIdleConn-2                  2   1 ns/op   4.000 goroutines/conn   36000 heap-B/conn
BenchmarkNetRPCIdleConn-2            2   1 ns/op   2.000 goroutines/conn   33000 heap-B/conn
BenchmarkBroadcast/all-2            10   50000000 ns/op
BenchmarkBroadcast/seq-2            10    3000000 ns/op
BenchmarkCallParallel/firefly-2    100    2000 ns/op
BenchmarkCallParallel/netrpc-2     100    9000 ns/op
BenchmarkCallParallel/arpc-2       100    3000 ns/op
BenchmarkCallUnderBulk/firefly-2   100   1 ns/op   20000 p50-ns   90000 p99-ns
BenchmarkCallUnderBulk/arpc-2      100   1 ns/op   10000 p50-ns   100000 p99-ns
`

// goalsOf parses out and returns the goals by "id measure".
func goalsOf(t *testing.T, out string, instr float64) map[string]goal {
	t.Helper()
	_, all, _, runs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]goal)
	for _, g := range goals(all, runs, instr) {
		byName[g.id+" "+g.measure] = g
	}
	return byName
}

func TestGoals(t *testing.T) {
	gs := goalsOf(t, twoRuns, 19000)
	for _, c := range []struct {
		key, figurePrefix, perRun, met string
	}{
		// 30000/20000 and 34000/20000: the median of 1.5 and 1.7.
		{"P1 CallSeq over raw TCP ping-pong of the same sizes", "1.6x", "1.5x - 1.7x", "yes"},
		// The median of 1.3 and 1.7, and of 26 us and 34 us.
		{"P1 CallSeq over raw TCP ping-pong, alternating in one loop (medians)", "1.5x (30.0 us beside 20.0 us)", "1.3x - 1.7x", "yes"},
		{"P1 instructions per CallSeq round trip, both ends (callgrind)", "19.0k", "", "yes"},
		// 10000/2000 = 5 and 10000/2500 = 4.
		{"P2 CallParallel throughput over net/rpc's", "4.5x", "4x - 5x", "yes"},
		// The best peer is the fastest in each run: arpc, 5000/2000 and 3000/2000.
		{"P2 bench/ CallParallel throughput over the best peer's", "2x", "1.5x - 2.5x", "yes"},
		{"P3 allocs per small call (CallSeq, 2 the benchmark's own)", "5", "5 - 5", "yes"},
		// 90 us and 110 us: the median is 100 us.
		{"P5 CallUnderBulk p99", "100.0 us", "90.0 us - 110.0 us", "yes"},
		{"P5 bench/ CallUnderBulk p99 over arpc's", "0.9x (90.0 us beside 100.0 us)", "0.9x - 0.9x", "yes"},
		{"P5 bench/ CallUnderBulk p50 over arpc's", "2x (20.0 us beside 10.0 us)", "2x - 2x", "no"},
		{"P6 Callback over CallSeq", "2x", "2x - 2x", "yes"},
		{"P6 Callback over CallSeq, alternating in one loop (medians)", "2.1x", "2.05x - 2.15x", "yes"},
		// 70000/30000 = 2.33 and 66000/30000 = 2.2.
		{"P7 GateHop over a direct call", "2.27x", "2.2x - 2.33x", "no"},
		// The median of 2.04 and 2.2.
		{"P7 GateHop over a direct call, alternating in one loop (medians)", "2.12x", "2.04x - 2.2x", "no"},
		// Both ends counted: 4 goroutines a connection are 2 a side.
		{"P9 goroutines per side of an idle connection (1,000 idle)", "2.0 (net/rpc 1.0)", "2.0 - 2.0", "yes"},
		{"P9 heap per idle connection, both ends, over net/rpc's", "1x", "0.909x - 1.09x", "yes"},
		// 450000 calls/s against 1e9/2000 = 500000, 300000 against 400000.
		{"P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'", "0.825x", "0.75x - 0.9x", "yes"},
		// The median of 0.7 and 0.9, beside the medians of the calls/s.
		{"P10 10,000 callers started afresh for each burst over 64 callers, alternating in one loop (medians)", "0.8x (435000 calls/s beside 550000)", "0.7x - 0.9x", "yes"},
		// 2000/4000 = 0.5 and 2500/2500 = 1.
		{"P10 10,000 long-lived callers on one connection (as the 64 are), every call answered: throughput over 64 callers'", "0.75x", "0.5x - 1x", "no"},
		{"P11 a Root's one-way message to 1,000 children, until the last has it", "45.00 ms", "40.00 ms - 50.00 ms", "reported"},
		{"P11 1,000 sequential one-way sends to one child", "3.00 ms", "3.00 ms - 3.00 ms", "reported"},
	} {
		g, ok := gs[c.key]
		if !ok {
			t.Errorf("no goal %q", c.key)
			continue
		}
		if !strings.HasPrefix(g.figure, c.figurePrefix) || g.perRun != c.perRun || g.met != c.met {
			t.Errorf("%s: figure %q, per run %q, met %q; want figure %q..., per run %q, met %q",
				c.key, g.figure, g.perRun, g.met, c.figurePrefix, c.perRun, c.met)
		}
	}
	if got := len(gs); got != 20 {
		t.Errorf("%d goals, want 20", got)
	}
}

// withFloor is twoRuns with the floor benchmarks' lines of each run, floor[i]
// for run i, added.
func withFloor(floor [2]string) string {
	runs := strings.SplitAfter(twoRuns, "goos: linux\n")
	return runs[0] + floor[0] + runs[1] + floor[1] + runs[2]
}

// The P10 goals name the hand-written floor's ratio when its benchmarks
// ran, and no floor when they did not.
func TestGoalsFloorsOfP10(t *testing.T) {
	const (
		longLived = "P10 10,000 long-lived callers on one connection (as the 64 are), every call answered: throughput over 64 callers'"
		bursts    = "P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'"
	)
	for _, c := range []struct {
		name, key, suffix string
		floor             [2]string
	}{
		// 1800/1500 and 2000/1600: the median of 1.2 and 1.25.
		{"long-lived", longLived, "; hand-written floor 1.23x", [2]string{
			"BenchmarkMuxFloorParallel-2 100 1800 ns/op\nBenchmarkMuxFloor10kParallel-2 100 1500 ns/op\n",
			"BenchmarkMuxFloorParallel-2 100 2000 ns/op\nBenchmarkMuxFloor10kParallel-2 100 1600 ns/op\n",
		}},
		// 600,000 calls/s beside 1/1800ns and 450,000 beside 1/2000ns: 1.08x
		// and 0.9x, whose median is 0.99x.
		{"bursts", bursts, "; hand-written floor 0.99x", [2]string{
			"BenchmarkMuxFloorParallel-2 100 1800 ns/op\nBenchmarkMuxFloor10kCallers-2 3 1 ns/op 600000 calls/s\n",
			"BenchmarkMuxFloorParallel-2 100 2000 ns/op\nBenchmarkMuxFloor10kCallers-2 3 1 ns/op 450000 calls/s\n",
		}},
	} {
		if g := goalsOf(t, withFloor(c.floor), 0)[c.key]; !strings.HasSuffix(g.figure, c.suffix) {
			t.Errorf("%s: figure %q, want it to end with %q", c.name, g.figure, c.suffix)
		}
		if g := goalsOf(t, twoRuns, 0)[c.key]; strings.Contains(g.figure, "floor") {
			t.Errorf("%s: figure %q names a floor that did not run", c.name, g.figure)
		}
	}
}

// The P10 bursts' goal tells where a burst's time went when the benchmark
// reported it: when the first tenth of the answers was in, and the rate of
// the rest over the 64 callers'.
func TestGoalsPhasesOfP10(t *testing.T) {
	const bursts = "P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'"
	phases := [2]string{
		"BenchmarkCall10kCallers-2 3 1 ns/op 450000 calls/s 0.5 tenth-share 600000 rest-calls/s\n",
		"BenchmarkCall10kCallers-2 3 1 ns/op 300000 calls/s 0.6 tenth-share 500000 rest-calls/s\n",
	}
	// 600000 calls/s beside 1e9/2000 = 500000 (1.2x) and 500000 beside
	// 400000 (1.25x); the median tenth-share is 0.55.
	want := "; the first tenth of a burst's answers in at 55% of its time, the other nine tenths at 1.23x the 64 callers' rate"
	if g := goalsOf(t, withFloor(phases), 0)[bursts]; !strings.Contains(g.figure, want) {
		t.Errorf("figure %q, want it to contain %q", g.figure, want)
	}
	if g := goalsOf(t, twoRuns, 0)[bursts]; strings.Contains(g.figure, "tenth") {
		t.Errorf("figure %q tells phases that were not measured", g.figure)
	}
}

// The P10 bursts' goal tells when a burst's first answer came beside when
// its callers had all started, and what the bursts' goroutines alone cost
// beside the 64 callers' time for as many calls, when those were measured;
// benchratio prints the goroutines alone as a row too.
func TestGoalsFirstAnswerAndGoroutinesOfP10(t *testing.T) {
	const bursts = "P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'"
	// 6 ms beside 10,000 calls at 2000 ns (0.3x), and 7.5 ms beside 10,000
	// at 2500 ns (0.3x); first answers at 30% and 40% (the median 35%).
	runs := [2]string{
		"BenchmarkCall10kCallers-2 3 1 ns/op 450000 calls/s 0.3 first-share 0.2 start-share\n" +
			"BenchmarkBurstsAlone-2 100 6000000 ns/op 1700000 calls/s 1000 cpu-ns/call\n",
		"BenchmarkCall10kCallers-2 3 1 ns/op 300000 calls/s 0.4 first-share 0.2 start-share\n" +
			"BenchmarkBurstsAlone-2 100 7500000 ns/op 1500000 calls/s 1100 cpu-ns/call\n",
	}
	g := goalsOf(t, withFloor(runs), 0)[bursts]
	for _, want := range []string{
		"; the first answer in at 35%, the callers all started at 20%",
		"; 10,000 goroutines started and ended with no call take 0.3x the 64 callers' time for 10,000 calls",
	} {
		if !strings.Contains(g.figure, want) {
			t.Errorf("figure %q, want it to contain %q", g.figure, want)
		}
	}
	if g := goalsOf(t, twoRuns, 0)[bursts]; strings.Contains(g.figure, "first answer") || strings.Contains(g.figure, "no call") {
		t.Errorf("figure %q tells what was not measured", g.figure)
	}
	r, ok := compareRows(t, withFloor(runs))["bursts of 10,000 goroutines started and ended with no call (the bursts' own cost): goroutines/s, and CPU a goroutine"]
	if !ok {
		t.Fatal("no row for the goroutines alone")
	}
	if r.ours != "1600000/s" || r.theirs != "1.1 us" || r.perRun != "1500000 - 1700000" {
		t.Errorf("row = %+v", r)
	}
}

// The P10 bursts' goal tells the bursts that make the 64 callers' own call
// beside its figure, when they were measured.
func TestGoalsRecordBurstsOfP10(t *testing.T) {
	const bursts = "P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'"
	// 450000 calls/s beside 1e9/2000 = 500000 (0.9x) and 320000 beside
	// 400000 (0.8x).
	records := [2]string{
		"BenchmarkCall10kCallersRecord-2 3 1 ns/op 450000 calls/s\n",
		"BenchmarkCall10kCallersRecord-2 3 1 ns/op 320000 calls/s\n",
	}
	want := "; making the 64 callers' own call (a record, no deadline) 0.85x"
	if g := goalsOf(t, withFloor(records), 0)[bursts]; !strings.Contains(g.figure, want) {
		t.Errorf("figure %q, want it to contain %q", g.figure, want)
	}
	if g := goalsOf(t, twoRuns, 0)[bursts]; strings.Contains(g.figure, "own call") {
		t.Errorf("figure %q tells bursts that were not measured", g.figure)
	}
	r, ok := compareRows(t, withFloor(records))["10,000 callers making the 64 callers' own call (a record, no deadline)"]
	if !ok {
		t.Fatal("no row for the bursts of records")
	}
	if r.ours != "385000 calls/s" || r.perRun != "320000 - 450000" {
		t.Errorf("row = %+v", r)
	}
}

func TestGoalsNotMeasured(t *testing.T) {
	gs := goalsOf(t, "BenchmarkCallSeq-2  100  30000 ns/op  7 allocs/op\n", 0)
	for key, g := range gs {
		want := notMeasured
		if key == "P3 allocs per small call (CallSeq, 2 the benchmark's own)" {
			want = "no"
		}
		if g.met != want {
			t.Errorf("%s: met %q, want %q", key, g.met, want)
		}
	}
}

func TestGoalFailedBenchmark(t *testing.T) {
	out := twoRuns + "--- FAIL: BenchmarkCall10kCallers-2\n--- FAIL: BenchmarkCall10kParallel-2\n--- FAIL: BenchmarkCall10kCallersPair-2\n"
	gs := goalsOf(t, out, 0)
	for _, key := range []string{
		"P10 10,000 callers on one connection, started afresh for each burst, every call answered: throughput over 64 callers'",
		"P10 10,000 callers started afresh for each burst over 64 callers, alternating in one loop (medians)",
		"P10 10,000 long-lived callers on one connection (as the 64 are), every call answered: throughput over 64 callers'",
	} {
		if g := gs[key]; g.met != "no (failed in 1 runs)" {
			t.Errorf("%s with a failed run: met %q", key, g.met)
		}
	}
}

// P5's p50 goal gives the bulk each system moved meanwhile and the two
// floors beside it, when the runs have them.
func TestGoalUnderBulkContext(t *testing.T) {
	out := strings.ReplaceAll(twoRuns, "BenchmarkCallUnderBulk/firefly-2   100   1 ns/op   20000 p50-ns",
		"BenchmarkCallUnderBulk/firefly-2   100   1 ns/op   800 bulk-MB/s   20000 p50-ns")
	out = strings.ReplaceAll(out, "BenchmarkCallUnderBulk/arpc-2      100   1 ns/op   10000 p50-ns",
		"BenchmarkCallUnderBulk/arpc-2      100   1 ns/op   1600 bulk-MB/s   10000 p50-ns")
	out = strings.Replace(out, "goos: linux\n", "goos: linux\n"+
		"BenchmarkTCPPingPongUnderBulk-2   100   16000 ns/op   5000 bulk-MB/s   15000 p50-ns   50000 p99-ns\n"+
		"BenchmarkMuxFloorUnderBulk-2   100   38000 ns/op   850 bulk-MB/s   35000 p50-ns   90000 p99-ns\n"+
		"BenchmarkWireUnderBulk/firefly-2   100   1 ns/op   30000 p50-wire-B   40 quiet-%   13000 quiet-p50-ns   26000 shared-p50-ns\n"+
		"BenchmarkWireUnderBulk/arpc-2   100   1 ns/op   64 p50-wire-B   98.5 quiet-%   14000 quiet-p50-ns   3000000 shared-p50-ns\n", 1)
	const key = "P5 bench/ CallUnderBulk p50 over arpc's"
	want := "2x (20.0 us beside 10.0 us, bulk 800 MB/s beside 1600 MB/s; raw TCP beside a bulk connection: 15.0 us; hand-written multiplexer sharing it: 35.0 us; calls that met no bulk on the wire: 40% at 13.0 us, arpc's 98% at 14.0 us)"
	if g := goalsOf(t, out, 0)[key]; g.figure != want || g.met != "no" {
		t.Errorf("figure %q, met %q; want %q, no", g.figure, g.met, want)
	}
	if g := goalsOf(t, twoRuns, 0)[key]; g.figure != "2x (20.0 us beside 10.0 us)" {
		t.Errorf("without the context: figure %q", g.figure)
	}
}

func TestPeerTable(t *testing.T) {
	res, _, _, _, err := parse(strings.NewReader(twoRuns))
	if err != nil {
		t.Fatal(err)
	}
	lines := peerTable(res)
	// The header, its rule, and the three systems present, firefly first.
	if len(lines) != 5 || !strings.HasPrefix(lines[2], "| firefly |") || !strings.HasPrefix(lines[4], "| arpc |") {
		t.Fatalf("peer table:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.HasSuffix(lines[0], "| its bulk |") {
		t.Errorf("header %q", lines[0])
	}
	if peerTable(map[string]result{"CallSeq": {"ns/op": 1}}) != nil {
		t.Fatal("a peer table without bench/ output")
	}
}

func TestWireTable(t *testing.T) {
	res, _, _, _, err := parse(strings.NewReader("BenchmarkWireUnderBulk/firefly-2   100   1 ns/op   32865 p50-wire-B   40.4 quiet-%   13351 quiet-p50-ns   25709 shared-p50-ns\n" +
		"BenchmarkWireUnderBulk/arpc-2   100   1 ns/op   64 p50-wire-B   98.55 quiet-%   14201 quiet-p50-ns   3889886 shared-p50-ns\n"))
	if err != nil {
		t.Fatal(err)
	}
	lines := wireTable(res)
	want := []string{"| firefly | 32865 B | 40.4% | 13.4 us | 25.7 us |", "| arpc | 64 B | 98.5% | 14.2 us | 3889.9 us |"}
	if len(lines) != 4 || lines[2] != want[0] || lines[3] != want[1] {
		t.Fatalf("wire table:\n%s", strings.Join(lines, "\n"))
	}
	if wireTable(map[string]result{"CallSeq": {"ns/op": 1}}) != nil {
		t.Fatal("a peer table without bench/ output")
	}
}

func TestGoalsOneProcessorOfP2(t *testing.T) {
	const p2 = "P2 CallParallel throughput over net/rpc's"
	out := "goos: linux\n" +
		"BenchmarkCallParallel-2  100  2000 ns/op  2400 cpu-ns/call\n" +
		"BenchmarkNetRPCCallParallel-2  100  7000 ns/op  12600 cpu-ns/call\n" +
		"BenchmarkCallParallelOneProcessor-2  100  1800 ns/op  1800 cpu-ns/call\n" +
		"BenchmarkNetRPCCallParallelOneProcessor-2  100  7560 ns/op  7560 cpu-ns/call\n"
	g := goalsOf(t, out, 0)[p2]
	if want := "3.5x (with one processor: 4.2x)"; g.figure != want || g.met != "no" {
		t.Errorf("P2 = %q (met %q), want %q (no)", g.figure, g.met, want)
	}
	if g := goalsOf(t, twoRuns, 0)[p2]; strings.Contains(g.figure, "one processor") {
		t.Errorf("figure %q tells a one-processor run that was not measured", g.figure)
	}
	rows := compareRows(t, out)
	checkRows(t, rows, func(r row) string { return r.ours + " | " + r.theirs + " | " + r.ratio }, map[string]string{
		"CallParallel throughput with one processor (GOMAXPROCS 1)":          "1.8 us | 7.6 us | 4.2x",
		"CallParallel processors busy (CPU time over the time a call takes)": "1.20 | 1.80 | ",
	})
}
