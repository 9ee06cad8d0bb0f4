package broker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type ref struct {
	id       uint64
	entry    *Import[ref]
	released atomic.Bool
}

type releases struct {
	mu sync.Mutex
	n  map[uint64]uint64
}

func (r *releases) release(id, n uint64) {
	r.mu.Lock()
	r.n[id] += n
	r.mu.Unlock()
}

func (r *releases) of(id uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[id]
}

func newImports() (*Imports[uint64, ref], *releases) {
	rel := &releases{n: map[uint64]uint64{}}
	var t Imports[uint64, ref]
	t.Init(rel.release)
	return &t, rel
}

func newRef(id uint64) func(*Import[ref]) *ref {
	return func(e *Import[ref]) *ref {
		r := &ref{id: id, entry: e}
		if e == nil {
			r.released.Store(true)
		}
		return r
	}
}

// TestImportsCounts: every transmission of an id returns the same live
// reference; dropping it releases all of them, once; a cleared table hands
// out dead references.
func TestImportsCounts(t *testing.T) {
	tab, rel := newImports()
	r := tab.Ref(7, newRef(7))
	for range 2 {
		if again := tab.Ref(7, newRef(7)); again != r {
			t.Fatal("a second transmission made a second reference")
		}
	}
	tab.Drop(7, r.entry, &r.released)
	tab.Drop(7, r.entry, &r.released)
	if got := rel.of(7); got != 3 || tab.Len() != 0 {
		t.Fatalf("released %d transmissions, table holds %d; want 3 and 0", got, tab.Len())
	}
	if fresh := tab.Ref(7, newRef(7)); fresh == r || fresh.released.Load() {
		t.Fatal("a transmission after the release returned the released reference")
	}
	tab.Clear()
	if dead := tab.Ref(8, newRef(8)); !dead.released.Load() || tab.Len() != 0 {
		t.Fatal("a reference received after Clear is live")
	}
}

// TestImportsCleanup: an unreachable reference is released by its cleanup.
func TestImportsCleanup(t *testing.T) {
	tab, rel := newImports()
	tab.Ref(9, newRef(9))
	tab.Ref(9, newRef(9))
	deadline := time.Now().Add(10 * time.Second)
	for rel.of(9) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after GC, %d transmissions released, want 2", rel.of(9))
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if tab.Len() != 0 {
		t.Fatalf("table holds %d after the cleanup", tab.Len())
	}
}
