// Command benchratio reads the output of the root package's benchmarks and
// prints firefly's numbers beside net/rpc's from the same run, as ratios, with
// the performance goals:
//
//	go test -run '^$' -bench . -benchtime 2s . | go run ./cmd/benchratio
//
// Each BenchmarkX is paired with BenchmarkNetRPCX when present. Lines it does
// not understand are ignored, so the whole output can be piped in. When a
// benchmark appears more than once (-count N, or the output of several runs
// one after another), each of its metrics is the median of its values, each
// ratio is the median of the runs' own ratios (the i-th value of one
// benchmark against the i-th of the other), with their range beside it, and
// the table says over how many runs:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench . -benchtime 2s .; done | go run ./cmd/benchratio
package main

import (
	"bufio"
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

// row is one line of the table.
type row struct {
	name, ours, theirs, ratio, perRun, goal, met string
}

func main() {
	results, all, header, runs, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchratio: no benchmark lines on standard input")
		os.Exit(1)
	}
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
		return spread(runs, func(i int) (float64, bool) {
			xs := all[a][unit]
			if i >= len(xs) {
				return 0, false
			}
			return xs[i], true
		}, format)
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	if a, b, ok := pair("CallSeq"); ok {
		r, rng := ratio("CallSeq", "NetRPCCallSeq", "ns/op", false)
		rows = append(rows, row{"CallSeq time", us(a["ns/op"]), us(b["ns/op"]), x(r), rng, "<= 1.0x", yes(r <= 1)})
		rows = append(rows, row{"CallSeq allocs/op", num(a["allocs/op"]), num(b["allocs/op"]), "", values("CallSeq", "allocs/op", num), "<= 8", yes(a["allocs/op"] <= 8)})
	}
	if a, b, ok := pair("CallParallel"); ok {
		r, rng := ratio("CallParallel", "NetRPCCallParallel", "ns/op", true)
		rows = append(rows, row{"CallParallel throughput", us(a["ns/op"]), us(b["ns/op"]), x(r), rng, ">= 3x", yes(r >= 3)})
	}
	if a, b, ok := pair("Echo1MiB"); ok {
		r, rng := ratio("Echo1MiB", "NetRPCEcho1MiB", "MB/s", false)
		rows = append(rows, row{"Echo1MiB throughput", mbs(a["MB/s"]), mbs(b["MB/s"]), x(r), rng, ">= 1.0x", yes(r >= 1)})
	}
	if a, b, ok := pair("CallUnderBulk"); ok {
		rows = append(rows, row{"CallUnderBulk p50", ms(a["p50-ns"]), ms(b["p50-ns"]), x(a["p50-ns"] / b["p50-ns"]), values("CallUnderBulk", "p50-ns", ms), "", ""})
		rows = append(rows, row{"CallUnderBulk p99", ms(a["p99-ns"]), ms(b["p99-ns"]), x(a["p99-ns"] / b["p99-ns"]), values("CallUnderBulk", "p99-ns", ms), "<= 2 ms", yes(a["p99-ns"] <= 2e6)})
	}
	if cb, ok := results["Callback"]; ok {
		if seq, ok := results["CallSeq"]; ok {
			r, rng := ratio("Callback", "CallSeq", "ns/op", false)
			rows = append(rows, row{"Callback vs CallSeq", us(cb["ns/op"]), us(seq["ns/op"]) + " (CallSeq)", x(r), rng, "<= 2x", yes(r <= 2)})
		}
	}
	if pair, ok := results["CallbackPair"]; ok {
		rows = append(rows, row{"Callback vs CallSeq, alternating in one loop (medians)", us(pair["callback-p50-ns"]), us(pair["seq-p50-ns"]) + " (CallSeq)", x(pair["ratio"]), values("CallbackPair", "ratio", x), "", ""})
		if r, ok := pair["twice-ratio"]; ok {
			rows = append(rows, row{"two CallSeq calls in a row, same loop", "", "", x(r), values("CallbackPair", "twice-ratio", x), "", ""})
		}
		if r, ok := pair["root-ratio"]; ok {
			rows = append(rows, row{"callback to the client's root (no reference), same loop", "", "", x(r), values("CallbackPair", "root-ratio", x), "", ""})
		}
		if r, ok := pair["mean-ratio"]; ok {
			rows = append(rows, row{"Callback vs CallSeq, same loop, means (slow tails included)", "", "", x(r), values("CallbackPair", "mean-ratio", x), "", ""})
		}
	}
	if hop, ok := results["GateHop"]; ok {
		if direct, ok := results["GateDirect"]; ok {
			r, rng := ratio("GateHop", "GateDirect", "ns/op", false)
			rows = append(rows, row{"GateHop vs GateDirect", us(hop["ns/op"]), us(direct["ns/op"]) + " (direct)", x(r), rng, "", ""})
		}
	}
	for _, h := range header {
		fmt.Println(h)
	}
	if runs > 1 {
		fmt.Printf("medians of %d runs\n", runs)
	}
	fmt.Println()
	fmt.Println("| measure | firefly | net/rpc | ratio | per run | goal | met |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.name, r.ours, r.theirs, r.ratio, r.perRun, r.goal, r.met)
	}
}

func us(ns float64) string { return fmt.Sprintf("%.1f us", ns/1e3) }
func ms(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
func mbs(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
func x(r float64) string   { return strconv.FormatFloat(r, 'g', 3, 64) + "x" }
