package broker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// Imports holds the references a connection's peer has passed to it. Each
// entry counts the transmissions received, so that releasing gives back
// that many (Twisted makes a RemoteReference per transmission, each
// releasing its own). The reference, an *R, is held weakly: an unreachable
// one is collected and its cleanup releases the count, as a backstop for an
// explicit release.
type Imports[K ID, R any] struct {
	mu      sync.Mutex
	byID    map[K]*Import[R]
	release func(id K, n uint64)
}

// Import is the entry of one imported reference. The reference keeps it, to
// name itself to Drop.
type Import[R any] struct {
	ref   weak.Pointer[R]
	count uint64
}

type importCleanup[K ID, R any] struct {
	t     *Imports[K, R]
	id    K
	entry *Import[R]
}

// Init makes the table ready; release tells the peer that n transmissions
// of its object id are released.
func (t *Imports[K, R]) Init(release func(id K, n uint64)) {
	t.byID = make(map[K]*Import[R])
	t.release = release
}

// Ref records one received transmission of the peer's object id and returns
// its reference: the same one for as long as it is alive and unreleased,
// else a new one that newRef makes around its entry. After Clear, newRef is
// given a nil entry: the connection is gone, and the reference it makes is
// a dead one.
func (t *Imports[K, R]) Ref(id K, newRef func(*Import[R]) *R) *R {
	t.mu.Lock()
	old := t.byID[id]
	if old != nil {
		if r := old.ref.Value(); r != nil {
			old.count++
			t.mu.Unlock()
			return r
		}
	}
	defer t.mu.Unlock()
	return t.newLocked(id, old, newRef)
}

// newLocked is Ref past a live reference: old is id's entry, whose
// reference was collected, or nil. t.mu must be held.
func (t *Imports[K, R]) newLocked(id K, old *Import[R], newRef func(*Import[R]) *R) *R {
	if t.byID == nil {
		return newRef(nil)
	}
	var carried uint64
	if old != nil {
		// The old reference was collected and its cleanup has not run
		// yet: take over its count; the cleanup will find its entry
		// replaced.
		carried = old.count
	}
	e := &Import[R]{count: carried + 1}
	r := newRef(e)
	e.ref = weak.Make(r)
	t.byID[id] = e
	runtime.AddCleanup(r, func(a importCleanup[K, R]) { a.t.Drop(a.id, a.entry, nil) }, importCleanup[K, R]{t, id, e})
	return r
}

// Drop removes entry (if still current; nil for none) and releases the
// transmissions it counted. With released non-nil (the reference's flag) it also marks the
// reference released, under the same lock, so that Ref never hands out a
// released reference; a reference released already is left alone.
func (t *Imports[K, R]) Drop(id K, entry *Import[R], released *atomic.Bool) {
	t.mu.Lock()
	if released != nil && !released.CompareAndSwap(false, true) {
		t.mu.Unlock()
		return
	}
	var n uint64
	if entry != nil && t.byID != nil && t.byID[id] == entry {
		delete(t.byID, id)
		n = entry.count
	}
	t.mu.Unlock()
	if n > 0 {
		t.release(id, n)
	}
}

// Len returns the number of live references.
func (t *Imports[K, R]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Clear forgets every reference; later ones are dead.
func (t *Imports[K, R]) Clear() {
	t.mu.Lock()
	t.byID = nil
	t.mu.Unlock()
}
