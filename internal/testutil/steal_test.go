package testutil

import "testing"

func TestParseStat(t *testing.T) {
	m := parseStat([]byte("cpu  10 1 20 300 4 0 5 60 7 0\ncpu0 5 0 10 150 2 0 2 30 3 0\n"))
	if !m.ok || m.total != 400 || m.steal != 60 {
		t.Errorf("parseStat = %+v, want total 400 (guest left out), steal 60", m)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 2 3\n", "cpu  1 2 3 4 5 6 7 x\n"} {
		if m := parseStat([]byte(bad)); m.ok {
			t.Errorf("parseStat(%q) = %+v, want no mark", bad, m)
		}
	}
	if _, ok := (CPUMark{}).StealSince(); ok {
		t.Error("StealSince of an empty mark reported a share")
	}
}
