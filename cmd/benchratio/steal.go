package main

import (
	"fmt"
	"slices"
	"strings"
)

// stealUnit is the metric of the share of the machine's CPU time its
// hypervisor gave other guests while a benchmark ran (Linux's steal time).
const stealUnit = "steal-%"

// stealLine summarises the hypervisor's steal over the runs: for each run,
// the median of the steal-% of the benchmarks that report it, and the
// median of those. On a virtual machine the times move with it, so that
// runs can be told apart by it. It returns "" when no benchmark reports
// steal.
func stealLine(all series, runs int) string {
	var perRun []float64
	for i := range runs {
		var vs []float64
		for name := range all {
			if v, ok := all.at(name, stealUnit, i); ok {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			perRun = append(perRun, median(vs))
		}
	}
	if len(perRun) == 0 {
		return ""
	}
	var each []string
	for _, v := range perRun {
		each = append(each, pct(v))
	}
	line := fmt.Sprintf("Hypervisor steal while the benchmarks ran (steal-%%, the median over the benchmarks reporting it): %s", pct(median(slices.Clone(perRun))))
	if len(perRun) > 1 {
		line += " by the median of the runs; per run: " + strings.Join(each, ", ")
	}
	return line + "."
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v) }
