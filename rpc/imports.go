package rpc

import (
	"runtime"
	"sync"
	"weak"
)

// importTable holds the references a connection's peer has passed to it.
// Each entry counts the transmissions received; the *Ref is held weakly, so
// an unreachable Ref is collected and its cleanup releases the count (a
// backstop: Release is the way to release).
type importTable struct {
	mu   sync.Mutex
	byID map[uint64]*importEntry
}

type importEntry struct {
	ref   weak.Pointer[Ref]
	count uint64
}

type importCleanup struct {
	conn  *Conn
	id    uint64
	entry *importEntry
}

// importRef records one received transmission of the peer's object id and
// returns its *Ref: the same *Ref for as long as it is alive and unreleased.
func (c *Conn) importRef(id uint64) *Ref {
	t := &c.imports
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil { // connection gone: a dead reference
		r := &Ref{conn: c, id: id}
		r.released.Store(true)
		return r
	}
	var carried uint64
	if e := t.byID[id]; e != nil {
		if r := e.ref.Value(); r != nil {
			e.count++
			return r
		}
		// The old Ref was collected and its cleanup has not run yet: take
		// over its count; the cleanup will find its entry replaced.
		carried = e.count
	}
	r := &Ref{conn: c, id: id}
	e := &importEntry{ref: weak.Make(r), count: carried + 1}
	r.entry = e
	t.byID[id] = e
	runtime.AddCleanup(r, func(a importCleanup) { a.conn.dropImport(a.id, a.entry, nil) }, importCleanup{c, id, e})
	return r
}

// dropImport removes entry (if still current) and tells the peer how many
// transmissions it covered. With r non-nil it also marks r released, under
// the same lock, so importRef never hands out a released Ref.
func (c *Conn) dropImport(id uint64, entry *importEntry, r *Ref) {
	t := &c.imports
	t.mu.Lock()
	if r != nil && !r.released.CompareAndSwap(false, true) {
		t.mu.Unlock()
		return
	}
	var n uint64
	if t.byID != nil && t.byID[id] == entry {
		delete(t.byID, id)
		n = entry.count
	}
	t.mu.Unlock()
	if n > 0 {
		c.queueRelease(id, n)
	}
}

func (t *importTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func (t *importTable) clear() {
	t.mu.Lock()
	t.byID = nil
	t.mu.Unlock()
}
