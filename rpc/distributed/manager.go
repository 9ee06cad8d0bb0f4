package distributed

import (
	"slices"
	"strings"
	"sync"
)

// ChildManager holds children by name and by id (Firefly's ChildsManager).
// It is safe for concurrent use. Unlike Firefly's, adding a child under a
// name that is taken replaces the child registered there: a node that
// reconnects before its stale child is dropped takes its place. The zero
// value is an empty manager.
type ChildManager struct {
	mu     sync.RWMutex
	byName map[string]*Child
	byID   map[uint64]*Child
}

// NewChildManager returns an empty manager.
func NewChildManager() *ChildManager { return &ChildManager{} }

// Add registers c and returns the child it replaced under c's name, or nil.
// A child registered under c's id is dropped too (ids should be unique).
func (m *ChildManager) Add(c *Child) (replaced *Child) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName = make(map[string]*Child)
		m.byID = make(map[uint64]*Child)
	}
	replaced = m.byName[c.name]
	if replaced != nil {
		delete(m.byID, replaced.id)
	}
	if prev := m.byID[c.id]; prev != nil {
		delete(m.byName, prev.name)
	}
	m.byName[c.name] = c
	m.byID[c.id] = c
	return replaced
}

// Get returns the child called name, or nil.
func (m *ChildManager) Get(name string) *Child {
	m.mu.RLock()
	c := m.byName[name]
	m.mu.RUnlock()
	return c
}

// GetByID returns the child with id, or nil.
func (m *ChildManager) GetByID(id uint64) *Child {
	m.mu.RLock()
	c := m.byID[id]
	m.mu.RUnlock()
	return c
}

// Drop removes the child called name and returns it, or nil.
func (m *ChildManager) Drop(name string) *Child {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.byName[name]
	if c != nil {
		delete(m.byName, name)
		delete(m.byID, c.id)
	}
	return c
}

// DropByID removes the child with id and returns it, or nil.
func (m *ChildManager) DropByID(id uint64) *Child {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.byID[id]
	if c != nil {
		delete(m.byName, c.name)
		delete(m.byID, id)
	}
	return c
}

// Remove removes c if it is still registered, and reports whether it was.
// A child that was replaced is not registered any more: removing it leaves
// its replacement alone.
func (m *ChildManager) Remove(c *Child) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName[c.name] != c {
		return false
	}
	delete(m.byName, c.name)
	delete(m.byID, c.id)
	return true
}

// List returns the children sorted by name, in a new slice.
func (m *ChildManager) List() []*Child {
	m.mu.RLock()
	cs := make([]*Child, 0, len(m.byName))
	for _, c := range m.byName {
		cs = append(cs, c)
	}
	m.mu.RUnlock()
	slices.SortFunc(cs, func(a, b *Child) int { return strings.Compare(a.name, b.name) })
	return cs
}

// Len returns the number of children.
func (m *ChildManager) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byName)
}
