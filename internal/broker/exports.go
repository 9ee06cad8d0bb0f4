package broker

import (
	"fmt"
	"reflect"
	"sync"
)

// Exports holds the local objects a connection has passed to its peer by
// reference, with a count of transmissions (PB's scheme): each send adds
// one, each release from the peer subtracts what the peer received, and the
// entry is dropped at zero. Ids count from 1 per connection; the root
// object is held apart. T is what a broker keeps of an object (its method
// table); the object itself is the key, so the same object sent twice has
// one id.
type Exports[K ID, T any] struct {
	mu    sync.Mutex
	byID  map[K]*export[K, T]
	byObj map[any]*export[K, T]
	next  K
	max   int
	errs  ExportErrors
}

// ExportErrors are the errors Exports.Add returns, each a broker's own.
type ExportErrors struct {
	Lost             error // after Clear: the connection is gone
	NotReferenceable error // wrapped, for a value that is not a non-nil pointer
	Full             error // the table holds its maximum (the error says the limit)
}

type export[K ID, T any] struct {
	id    K
	obj   T
	val   any
	count uint64
}

// Init makes the table ready for max objects.
func (t *Exports[K, T]) Init(max int, errs ExportErrors) {
	t.byID = make(map[K]*export[K, T])
	t.byObj = make(map[any]*export[K, T])
	t.max = max
	t.errs = errs
}

// Add counts one more transmission of v, which must be a non-nil pointer,
// and returns its id. The first time v is sent, its T is made by newT,
// outside the table's lock (reflection may take a while the first time a
// type is seen).
func (t *Exports[K, T]) Add(v any, newT func(any) (T, error)) (K, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return 0, fmt.Errorf("%w: %T must be passed as a non-nil pointer", t.errs.NotReferenceable, v)
	}
	if id, done, err := t.count(v); done {
		return id, err
	}
	obj, err := newT(v)
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Looked at again: other senders may have exported v, or filled the
	// table, meanwhile.
	if id, done, err := t.countLocked(v); done {
		return id, err
	}
	t.next++
	e := &export[K, T]{id: t.next, obj: obj, val: v, count: 1}
	t.byID[e.id] = e
	t.byObj[v] = e
	return e.id, nil
}

// count counts one more transmission of v when it is exported already; done
// is false when v is new and the table has room for it.
func (t *Exports[K, T]) count(v any) (id K, done bool, err error) {
	t.mu.Lock()
	id, done, err = t.countLocked(v)
	t.mu.Unlock()
	return id, done, err
}

func (t *Exports[K, T]) countLocked(v any) (K, bool, error) {
	if t.byID == nil {
		return 0, true, t.errs.Lost
	}
	if e := t.byObj[v]; e != nil {
		e.count++
		return e.id, true, nil
	}
	if len(t.byID) >= t.max {
		return 0, true, t.errs.Full
	}
	return 0, false, nil
}

// Get returns the exported object with id (the zero T for none).
func (t *Exports[K, T]) Get(id K) T {
	var obj T
	t.mu.Lock()
	if e := t.byID[id]; e != nil {
		obj = e.obj
	}
	t.mu.Unlock()
	return obj
}

// Of returns the exported object whose value is v (the zero T for none).
func (t *Exports[K, T]) Of(v any) T {
	var zero T
	if v == nil || !reflect.TypeOf(v).Comparable() {
		return zero
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byObj[v]; e != nil {
		return e.obj
	}
	return zero
}

// Release subtracts n transmissions of id. It reports false for an id that
// is not exported, or a count of zero or larger than what was sent: a peer
// error. After Clear every release is true: a late one is harmless.
func (t *Exports[K, T]) Release(id K, n uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		return true
	}
	e := t.byID[id]
	if e == nil || n > e.count || n == 0 {
		return false
	}
	e.count -= n
	if e.count == 0 {
		delete(t.byID, id)
		delete(t.byObj, e.val)
	}
	return true
}

// Hold adds one to the count of each of ids, which were just exported, so
// that they outlive the peer's releases until Unhold; it returns ids.
func (t *Exports[K, T]) Hold(ids []K) []K {
	if len(ids) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if e := t.byID[id]; e != nil {
			e.count++
		}
	}
	return ids
}

// Unhold takes back what Hold added.
func (t *Exports[K, T]) Unhold(ids []K) {
	for _, id := range ids {
		t.Release(id, 1)
	}
}

// Len returns the number of exported objects.
func (t *Exports[K, T]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Clear drops every export; later adds fail with ExportErrors.Lost.
func (t *Exports[K, T]) Clear() {
	t.mu.Lock()
	t.byID, t.byObj = nil, nil
	t.mu.Unlock()
}
