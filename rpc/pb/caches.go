package pb

import (
	"context"
	"fmt"
	"sync"
)

// cacheTable holds the copies of the peer's pb.Cacheables this side
// received. They are kept as plain values, not observed: every copy received
// (a first copy [class, luid, state] or ['cached', luid]) is answered with
// one ['decache', luid] at once, so the owner's count stays right and it
// stops pushing updates, and the value is kept until the owner's
// ['uncache', luid], for the 'cached' copies still on their way.
type cacheTable struct {
	mu   sync.Mutex
	byID map[int64]any
	max  int
}

func (t *cacheTable) init(max int) {
	t.byID = make(map[int64]any)
	t.max = max
}

// unjellyCache implements jellyCacheHooks.
func (h *hooks) unjellyCache(luid int64, class string, state any) (any, error) {
	t := &h.c.caches
	t.mu.Lock()
	var v any
	if class != "" {
		if _, ok := t.byID[luid]; !ok && len(t.byID) >= t.max {
			t.mu.Unlock()
			return nil, fmt.Errorf("%w: more than %d Cacheables held", ErrProtocol, t.max)
		}
		d, _ := state.(*Dict)
		v = &Instance{Class: class, State: d}
		t.byID[luid] = v
	} else {
		var ok bool
		if v, ok = t.byID[luid]; !ok {
			t.mu.Unlock()
			return nil, fmt.Errorf("%w: ['cached', %d] names no Cacheable received", ErrProtocol, luid)
		}
	}
	t.mu.Unlock()
	h.c.send(context.Background(), []any{[]byte("decache"), luid}, false)
	return v, nil
}

// uncache forgets a Cacheable's copy once its owner has.
func (t *cacheTable) uncache(luid int64) {
	t.mu.Lock()
	delete(t.byID, luid)
	t.mu.Unlock()
}

// has reports whether luid is a Cacheable received.
func (t *cacheTable) has(luid int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.byID[luid]
	return ok
}
