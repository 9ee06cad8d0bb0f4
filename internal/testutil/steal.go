package testutil

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// A CPUMark is a reading of the machine's CPU time counters, all cores
// together (the first line of Linux's /proc/stat), from which StealSince
// tells how much of the time since the hypervisor gave to other guests:
// on a virtual machine a benchmark's times move with it, and its CPU time
// per operation does not.
type CPUMark struct {
	steal, total uint64
	ok           bool
}

// MarkCPU reads the counters. Where there is no /proc/stat the mark is
// empty, and StealSince reports false.
func MarkCPU() CPUMark {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUMark{}
	}
	return parseStat(b)
}

// parseStat reads a CPUMark from the text of /proc/stat.
func parseStat(b []byte) CPUMark {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	// cpu user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is counted in user already.
	if len(f) < 9 || string(f[0]) != "cpu" {
		return CPUMark{}
	}
	var m CPUMark
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return CPUMark{}
		}
		m.total += v
		if i == 8 {
			m.steal = v
		}
	}
	m.ok = true
	return m
}

// StealSince returns the share of the machine's CPU time, in percent, that
// was stolen (spent by the hypervisor on other guests) between m and now.
// It reports false when the counters cannot be read or did not move.
func (m CPUMark) StealSince() (float64, bool) {
	now := MarkCPU()
	if !m.ok || !now.ok || now.total <= m.total {
		return 0, false
	}
	return 100 * float64(now.steal-m.steal) / float64(now.total-m.total), true
}

// ReportSteal reports, as the benchmark metric "steal-%", the share of the
// machine's CPU time stolen since m: call it as
// defer testutil.ReportSteal(b, testutil.MarkCPU()). Where the machine does
// not tell, it reports nothing.
func ReportSteal(b *testing.B, m CPUMark) {
	if p, ok := m.StealSince(); ok {
		b.ReportMetric(p, "steal-%")
	}
}
