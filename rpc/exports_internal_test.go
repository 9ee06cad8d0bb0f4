package rpc

import (
	"errors"
	"sync"
	"testing"
)

type exportee struct {
	Referenceable
	N int // not zero-sized: each new one is a distinct object
}

func (*exportee) RemoteNothing() {}

// TestExportTableLimitExact: many goroutines exporting new objects at once
// into a table of max entries: exactly max succeed, the rest fail with
// ErrTooManyReferences.
func TestExportTableLimitExact(t *testing.T) {
	const max, senders = 64, 2000
	reg := NewRegistry()
	for round := range 20 {
		var tab exportTable
		tab.init(max)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		start := make(chan struct{})
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := tab.add(reg, &exportee{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrTooManyReferences):
					refused++
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok != max || refused != senders-max || tab.len() != max {
			t.Fatalf("round %d: %d exported, %d refused, table holds %d; want %d, %d, %d", round, ok, refused, tab.len(), max, senders-max, max)
		}
	}
}
