package rpc

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/fireflyrpc/firefly/registry"
)

// rootID is the id of the root object a side offers; it is never counted or
// released.
const rootID = 0

// exportTable holds the local objects a connection has passed to its peer by
// reference, with a count of transmissions (PB's scheme): each send adds one,
// each release from the peer subtracts what the peer received, and the entry
// is dropped at zero.
type exportTable struct {
	mu    sync.Mutex
	byID  map[uint64]*export
	byObj map[any]uint64
	next  uint64
	max   int
}

type export struct {
	obj   *target
	count uint64
}

func (t *exportTable) init(max int) {
	t.byID = make(map[uint64]*export)
	t.byObj = make(map[any]uint64)
	t.next = rootID + 1
	t.max = max
}

// add counts one more transmission of v and returns its id.
func (t *exportTable) add(reg *registry.Registry, v any) (uint64, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return 0, fmt.Errorf("%w: %T must be passed as a non-nil pointer", ErrNotReferenceable, v)
	}
	t.mu.Lock()
	if t.byID == nil {
		t.mu.Unlock()
		return 0, ErrConnectionLost
	}
	if id, ok := t.byObj[v]; ok {
		t.byID[id].count++
		t.mu.Unlock()
		return id, nil
	}
	if len(t.byID) >= t.max {
		t.mu.Unlock()
		return 0, fmt.Errorf("%w (limit %d)", ErrTooManyReferences, t.max)
	}
	t.mu.Unlock()
	// Build the method table outside the lock: reflection may take a while the
	// first time a type is seen.
	obj, err := newTarget(reg, v)
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		return 0, ErrConnectionLost
	}
	if id, ok := t.byObj[v]; ok { // raced with another sender of v
		t.byID[id].count++
		return id, nil
	}
	// Checked again: other senders may have filled the table meanwhile.
	if len(t.byID) >= t.max {
		return 0, fmt.Errorf("%w (limit %d)", ErrTooManyReferences, t.max)
	}
	id := t.next
	t.next++
	t.byID[id] = &export{obj: obj, count: 1}
	t.byObj[v] = id
	return id, nil
}

// get returns the exported object with id, or nil.
func (t *exportTable) get(id uint64) *target {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byID[id]; e != nil {
		return e.obj
	}
	return nil
}

// release subtracts n transmissions of id. It reports false for an id that is
// not exported or a count larger than what was sent: a peer error.
func (t *exportTable) release(id uint64, n uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byID[id]
	if e == nil || n > e.count || n == 0 {
		return false
	}
	e.count -= n
	if e.count == 0 {
		delete(t.byID, id)
		delete(t.byObj, e.obj.Value())
	}
	return true
}

// len returns the number of exported objects.
func (t *exportTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// clear drops every export; later adds fail.
func (t *exportTable) clear() {
	t.mu.Lock()
	t.byID, t.byObj = nil, nil
	t.mu.Unlock()
}
