package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	out := `goos: linux
cpu: Some CPU
BenchmarkCallSeq-2               	   53608	     38474 ns/op	     473 B/op	       8 allocs/op
BenchmarkNetRPCCallUnderBulk-2   	     154	  13607111 ns/op	  11971195 p50-ns	 168004259 p99-ns
BenchmarkEcho1MiB-2              	     883	   2704150 ns/op	 775.53 MB/s	 2119450 B/op	      27 allocs/op
PASS
`
	res, _, header, runs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 2 || runs != 1 {
		t.Fatalf("header %q, %d runs", header, runs)
	}
	if got := res["CallSeq"]["ns/op"]; got != 38474 {
		t.Fatalf("CallSeq ns/op = %v", got)
	}
	if got := res["CallSeq"]["allocs/op"]; got != 8 {
		t.Fatalf("CallSeq allocs/op = %v", got)
	}
	if got := res["NetRPCCallUnderBulk"]["p99-ns"]; got != 168004259 {
		t.Fatalf("p99 = %v", got)
	}
	if got := res["Echo1MiB"]["MB/s"]; got != 775.53 {
		t.Fatalf("MB/s = %v", got)
	}
}

func TestParseMedians(t *testing.T) {
	run := func(seq, echo string) string {
		return "goos: linux\ncpu: Some CPU\n" +
			"BenchmarkCallSeq-2  100  " + seq + " ns/op  8 allocs/op\n" +
			"BenchmarkEcho1MiB-2  10  2704150 ns/op  " + echo + " MB/s\n"
	}
	out := run("300", "700") + run("100", "900") + run("200", "800") + run("1000", "750")
	res, all, header, runs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 2 {
		t.Fatalf("header lines repeated: %q", header)
	}
	if runs != 4 {
		t.Fatalf("runs = %d, want 4", runs)
	}
	if got := res["CallSeq"]["ns/op"]; got != 250 {
		t.Fatalf("median CallSeq ns/op = %v, want 250", got)
	}
	if got := res["Echo1MiB"]["MB/s"]; got != 775 {
		t.Fatalf("median Echo1MiB MB/s = %v, want 775", got)
	}
	if got := all["CallSeq"]["ns/op"]; !slices.Equal(got, []float64{300, 100, 200, 1000}) {
		t.Fatalf("CallSeq ns/op per run = %v, want the values in the order read", got)
	}
	perRun := func(i int) (float64, bool) {
		xs := all["CallSeq"]["ns/op"]
		if i >= len(xs) {
			return 0, false
		}
		return xs[i] / 100, true
	}
	if got := spread(runs, perRun, x); got != "1x - 10x" {
		t.Fatalf("spread = %q, want %q", got, "1x - 10x")
	}
	if got := spread(1, perRun, x); got != "" {
		t.Fatalf("spread of one run = %q, want none", got)
	}
	// The ratio is the median of the runs' own ratios, not the ratio of
	// the medians: run by run, CallSeq is 3, 1, 2 and 10 times NetRPCCallSeq.
	net := run("100", "1") + run("100", "1") + run("100", "1") + run("100", "1")
	net = strings.ReplaceAll(net, "BenchmarkCallSeq", "BenchmarkNetRPCCallSeq")
	_, all, _, _, err = parse(strings.NewReader(out + net))
	if err != nil {
		t.Fatal(err)
	}
	r, rs := all.ratio("CallSeq", "NetRPCCallSeq", "ns/op", false)
	if r != 2.5 || !slices.Equal(rs, []float64{3, 1, 2, 10}) {
		t.Fatalf("ratio = %v over %v, want 2.5 over [3 1 2 10]", r, rs)
	}
	if r, _ := all.ratio("CallSeq", "NetRPCCallSeq", "ns/op", true); math.Abs(r-(1.0/3+0.5)/2) > 1e-12 {
		t.Fatalf("inverse ratio = %v", r)
	}
	if r, rs := all.ratio("CallSeq", "Missing", "ns/op", false); !math.IsNaN(r) || rs != nil {
		t.Fatalf("ratio against a missing benchmark = %v, %v", r, rs)
	}
	if got := median([]float64{5, 1, 3}); got != 3 {
		t.Fatalf("median of 5, 1, 3 = %v", got)
	}
}

func TestCompareTenThousandCallers(t *testing.T) {
	run := func(ours, theirs string) string {
		return "goos: linux\ncpu: Some CPU\n" +
			"BenchmarkCall10kCallers-2  10  200000000 ns/op  " + ours + " calls/s  20000 cpu-ns/call\n" +
			"BenchmarkNetRPCCall10kCallers-2  10  300000000 ns/op  " + theirs + " calls/s  25000 cpu-ns/call\n"
	}
	res, all, _, runs, err := parse(strings.NewReader(run("60000", "30000") + run("40000", "40000")))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]row{}
	for _, r := range compare(res, all, runs) {
		rows[r.name] = r
	}
	got := rows["10,000 callers on one connection"]
	if got.ours != "50000 calls/s" || got.theirs != "35000 calls/s" || got.ratio != "1.5x" || got.perRun != "1x - 2x" {
		t.Fatalf("10,000 callers row = %+v", got)
	}
	cpu := rows["10,000 callers: CPU per call, both ends"]
	if cpu.ours != "20.0 us" || cpu.theirs != "25.0 us" || cpu.ratio != "0.8x" {
		t.Fatalf("CPU per call row = %+v", cpu)
	}
}

// The pair of bursts and 64 callers timed in one loop is a row of its own,
// with the medians of its calls/s and its ratio's range over the runs.
func TestComparePairOfBursts(t *testing.T) {
	run := func(bursts, sixtyFour, ratio string) string {
		return "goos: linux\n" +
			"BenchmarkCall10kCallersPair-2  10  30000000 ns/op  " + sixtyFour + " 64-calls/s  " + bursts + " bursts-calls/s  " + ratio + " ratio\n"
	}
	res, all, _, runs, err := parse(strings.NewReader(run("400000", "600000", "0.6") + run("500000", "600000", "0.8")))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range compare(res, all, runs) {
		if r.name == "10,000 fresh callers vs 64 callers, alternating in one loop: calls/s (medians)" {
			if r.ours != "450000 calls/s" || r.theirs != "600000 calls/s (64 callers)" || r.ratio != "0.7x" || r.perRun != "0.6x - 0.8x" {
				t.Fatalf("pair row = %+v", r)
			}
			return
		}
	}
	t.Fatal("no row for the pair of bursts")
}

// The pair timed with its servers in a process of their own has a row of
// its own beside the pair's.
func TestComparePairOfBurstsApart(t *testing.T) {
	out := "goos: linux\n" +
		"BenchmarkCall10kCallersPair-2  10  30000000 ns/op  600000 64-calls/s  400000 bursts-calls/s  0.6 ratio\n" +
		"BenchmarkCall10kCallersPairApart-2  10  30000000 ns/op  250000 64-calls/s  260000 bursts-calls/s  1.04 ratio\n"
	res, all, _, runs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, r := range compare(res, all, runs) {
		switch r.name {
		case "10,000 fresh callers vs 64 callers, alternating in one loop: calls/s (medians)":
			found++
			if r.ours != "400000 calls/s" || r.ratio != "0.6x" {
				t.Errorf("pair row = %+v", r)
			}
		case "same, the servers in a process of their own":
			found++
			if r.ours != "260000 calls/s" || r.theirs != "250000 calls/s (64 callers)" || r.ratio != "1.04x" {
				t.Errorf("apart row = %+v", r)
			}
		}
	}
	if found != 2 {
		t.Fatalf("%d of the 2 pair rows", found)
	}
	gs := goalsOf(t, twoRuns+"BenchmarkCall10kCallersPairApart-2  10  30000000 ns/op  250000 64-calls/s  260000 bursts-calls/s  1.04 ratio\n", 0)
	want := "; with the servers in a process of their own 1.04x (260000 calls/s beside 250000)"
	if g := gs["P10 10,000 callers started afresh for each burst over 64 callers, alternating in one loop (medians)"]; !strings.HasSuffix(g.figure, want) {
		t.Errorf("P10 pair's figure %q, want it to end with %q", g.figure, want)
	}
}

func TestStealLine(t *testing.T) {
	run := func(a, b string) string {
		return "BenchmarkCallSeq-2  100  300 ns/op  " + a + " steal-%\n" +
			"BenchmarkTCPPingPong-2  100  100 ns/op  " + b + " steal-%\n" +
			"BenchmarkEcho1MiB-2  10  2704150 ns/op  700 MB/s\n"
	}
	_, all, _, runs, err := parse(strings.NewReader(run("10", "20") + run("40", "40") + run("0", "2")))
	if err != nil {
		t.Fatal(err)
	}
	got := stealLine(all, runs)
	want := "Hypervisor steal while the benchmarks ran (steal-%, the median over the benchmarks reporting it): 15.0% by the median of the runs; per run: 15.0%, 40.0%, 1.0%."
	if got != want {
		t.Errorf("stealLine =\n%s\nwant\n%s", got, want)
	}
	_, all, _, runs, _ = parse(strings.NewReader("BenchmarkCallSeq-2  100  300 ns/op\n"))
	if got := stealLine(all, runs); got != "" {
		t.Errorf("stealLine without steal-%% = %q, want none", got)
	}
}

// compareRows parses out and returns compare's rows by name.
func compareRows(t *testing.T, out string) map[string]row {
	t.Helper()
	res, all, _, runs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[string]row)
	for _, r := range compare(res, all, runs) {
		rows[r.name] = r
	}
	return rows
}

// checkRows reports each row of want that rows lack, or whose cells, as
// show joins them, differ from want's.
func checkRows(t *testing.T, rows map[string]row, show func(row) string, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if r, ok := rows[name]; !ok {
			t.Errorf("no row %q", name)
		} else if got := show(r); got != w {
			t.Errorf("row %q: %q, want %q", name, got, w)
		}
	}
}

func TestCompareHandOffFloor(t *testing.T) {
	rows := compareRows(t, "BenchmarkCallSeq-2  100  30000 ns/op  5 allocs/op\n"+
		"BenchmarkNetRPCCallSeq-2  100  45000 ns/op  16 allocs/op\n"+
		"BenchmarkTCPPingPong-2  100  12000 ns/op  44.00 req-bytes  24.00 resp-bytes\n"+
		"BenchmarkTCPPingPongHandOff-2  100  20000 ns/op\n")
	checkRows(t, rows, func(r row) string { return r.ours + r.ratio }, map[string]string{
		"raw TCP ping-pong with a goroutine hand-off on each side": "20.0 us",
		"same, over raw TCP ping-pong (the hand-offs alone)":       "1.67x",
		"CallSeq over raw TCP ping-pong with the hand-offs":        "1.5x",
	})
}

// The one-hand-off floors: each over the raw round trip, or its time alone
// when the raw round trip was not run.
func TestCompareOneHandOffFloors(t *testing.T) {
	const far = "raw TCP ping-pong with the far end's hand-off alone (the caller reads its answer)"
	const near = "raw TCP ping-pong with the near end's hand-off alone (the far end answers on its reader)"
	const over = ": time, and over raw TCP ping-pong"
	rows := compareRows(t, "BenchmarkTCPPingPong-2  100  12000 ns/op  44.00 req-bytes  24.00 resp-bytes\n"+
		"BenchmarkTCPPingPongHandOffFar-2  100  21000 ns/op\n"+
		"BenchmarkTCPPingPongHandOffNear-2  100  18000 ns/op\n")
	checkRows(t, rows, func(r row) string { return r.ours + " " + r.ratio }, map[string]string{
		far + over:  "21.0 us 1.75x",
		near + over: "18.0 us 1.5x",
	})
	rows = compareRows(t, "BenchmarkTCPPingPongHandOffNear-2  100  18000 ns/op\n")
	checkRows(t, rows, func(r row) string { return r.ours + " " + r.ratio }, map[string]string{
		near: "18.0 us ",
	})
	if _, ok := rows[far]; ok {
		t.Errorf("row %q without its benchmark", far)
	}
}

// The floor's bursts row: 600,000 calls/s beside 64 callers at 2000 ns a
// call, 1.2x their throughput.
func TestCompareFloorBursts(t *testing.T) {
	rows := compareRows(t, "BenchmarkMuxFloorParallel-2  100  2000 ns/op\n"+
		"BenchmarkMuxFloor10kCallers-2  3  1 ns/op  600000 calls/s\n")
	const name = "same floor, bursts of 10,000 fresh callers: calls/s, and throughput over 64 callers'"
	r, ok := rows[name]
	if !ok {
		t.Fatalf("no row %q", name)
	}
	if got, want := r.ours+" "+r.ratio, "600000 calls/s 1.2x"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestCompareBulkThroughput(t *testing.T) {
	rows := compareRows(t, "BenchmarkCallUnderBulk-2  100  17000 ns/op  900 bulk-MB/s  7000 p50-ns  93000 p99-ns\n"+
		"BenchmarkNetRPCCallUnderBulk-2  100  14000000 ns/op  1200 bulk-MB/s  16000000 p50-ns  99000000 p99-ns\n")
	r, ok := rows["same, the 16 MiB echoes' own throughput meanwhile"]
	if !ok {
		t.Fatal("no bulk throughput row")
	}
	if r.ours != "900 MB/s" || r.theirs != "1200 MB/s" || r.ratio != "0.75x" {
		t.Fatalf("row %+v", r)
	}
}

// The floor that shares its connection with the bulk echoes: its rows
// carry its own percentiles and throughput.
func TestCompareMuxFloorUnderBulk(t *testing.T) {
	rows := compareRows(t, "BenchmarkMuxFloorUnderBulk-2  100  38000 ns/op  850 bulk-MB/s  35000 p50-ns  90000 p99-ns\n")
	checkRows(t, rows, func(r row) string { return r.ours }, map[string]string{
		"hand-written multiplexer, round trips sharing their connection with a 16 MiB echo cut in frames, p50": "35.0 us",
		"same multiplexer, p99":                                  "90.0 us",
		"same multiplexer, the echoes' own throughput meanwhile": "850 MB/s",
	})
}

func TestCompareGateHopPair(t *testing.T) {
	rows := compareRows(t, "BenchmarkGateHopPair-2  100  84000 ns/op  13000 direct-p50-ns  26650 hop-p50-ns  2.02 mean-ratio  2.05 ratio  2.01 twice-ratio\n")
	checkRows(t, rows, func(r row) string { return r.ours + " " + r.theirs + " " + r.ratio }, map[string]string{
		"GateHop vs GateDirect, alternating in one loop (medians)":      "26.6 us 13.0 us (direct) 2.05x",
		"two direct calls in a row, same loop":                          "  2.01x",
		"GateHop vs GateDirect, same loop, means (slow tails included)": "  2.02x",
	})
}

// CallSeq with a deadline has a row of its own, over CallSeq.
func TestCompareCallSeqDeadline(t *testing.T) {
	rows := compareRows(t, "goos: linux\n"+
		"BenchmarkCallSeq-2  1000  20000 ns/op\n"+
		"BenchmarkCallSeqDeadline-2  1000  21000 ns/op\n")
	r, ok := rows["CallSeq with a deadline on its context, over CallSeq"]
	if !ok {
		t.Fatal("no row for CallSeq with a deadline")
	}
	if r.ours != "21.0 us" || r.ratio != "1.05x" {
		t.Errorf("row = %+v", r)
	}
}
