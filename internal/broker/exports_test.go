package broker

import (
	"errors"
	"sync"
	"testing"
)

var (
	errLost    = errors.New("lost")
	errNotRef  = errors.New("not referenceable")
	errFull    = errors.New("full")
	exportErrs = ExportErrors{Lost: errLost, NotReferenceable: errNotRef, Full: errFull}
)

type object struct{ n int } // not zero-sized: each new one is a distinct object

func newName(v any) (string, error) { return "obj", nil }

// TestExportsLimitExact: many goroutines exporting new objects at once into
// a table of max entries: exactly max succeed, the rest fail with the
// table's Full error.
func TestExportsLimitExact(t *testing.T) {
	const max, senders = 64, 2000
	for round := range 20 {
		var tab Exports[uint64, string]
		tab.Init(max, exportErrs)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		start := make(chan struct{})
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := tab.Add(&object{}, newName)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, errFull):
					refused++
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok != max || refused != senders-max || tab.Len() != max {
			t.Fatalf("round %d: %d exported, %d refused, table holds %d; want %d, %d, %d", round, ok, refused, tab.Len(), max, senders-max, max)
		}
	}
}

// TestExportsCounts: the same object has one id, counted per transmission;
// releases give back counts, refusing more than was sent; Hold keeps an
// object past the peer's releases; a cleared table refuses adds and takes
// late releases.
func TestExportsCounts(t *testing.T) {
	var tab Exports[int64, string]
	tab.Init(8, exportErrs)
	a, b := &object{1}, &object{2}
	ida, _ := tab.Add(a, newName)
	if id, _ := tab.Add(a, newName); id != ida || ida != 1 {
		t.Fatalf("ids %d and %d for one object, want 1 twice", ida, id)
	}
	idb, _ := tab.Add(b, newName)
	if idb != 2 || tab.Get(idb) != "obj" || tab.Of(b) != "obj" || tab.Of(&object{2}) != "" {
		t.Fatalf("id %d, Get %q, Of %q", idb, tab.Get(idb), tab.Of(b))
	}
	if tab.Release(ida, 3) || tab.Release(ida, 0) || tab.Release(99, 1) {
		t.Fatal("a release of more than was sent, of nothing, or of an unknown id succeeded")
	}
	held := tab.Hold([]int64{idb})
	if !tab.Release(idb, 1) || tab.Get(idb) == "" {
		t.Fatal("a held object went with the peer's release")
	}
	tab.Unhold(held)
	if tab.Get(idb) != "" {
		t.Fatal("an unheld object with no transmissions left is still exported")
	}
	if !tab.Release(ida, 2) || tab.Len() != 0 {
		t.Fatalf("after every release the table holds %d", tab.Len())
	}
	if _, err := tab.Add(object{}, newName); !errors.Is(err, errNotRef) {
		t.Fatalf("a struct value exported: %v", err)
	}
	if _, err := tab.Add((*object)(nil), newName); !errors.Is(err, errNotRef) {
		t.Fatalf("a nil pointer exported: %v", err)
	}
	tab.Clear()
	if _, err := tab.Add(a, newName); err != errLost {
		t.Fatalf("add after Clear: %v, want %v", err, errLost)
	}
	if !tab.Release(ida, 1) {
		t.Fatal("a late release after Clear is refused")
	}
}
