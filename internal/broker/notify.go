package broker

import "sync"

// Notifications are the functions a connection calls, each once and in its
// own goroutine, when it ends: what Conn.NotifyOnDisconnect offers on either
// wire. The zero value is ready to use.
type Notifications struct {
	mu   sync.Mutex
	fs   map[uint64]func(error)
	next uint64
	done bool
	err  error
}

// Add arranges for f to be called, in its own goroutine, with the reason
// Fire is given; at once if Fire was called already. The returned function
// cancels the call if it has not been made.
func (l *Notifications) Add(f func(error)) (cancel func()) {
	l.mu.Lock()
	if l.done {
		err := l.err
		l.mu.Unlock()
		go f(err)
		return func() {}
	}
	if l.fs == nil {
		l.fs = make(map[uint64]func(error))
	}
	id := l.next
	l.next++
	l.fs[id] = f
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.fs, id)
		l.mu.Unlock()
	}
}

// Fire calls every function added, each in its own goroutine, with err.
// Only the first call does anything.
func (l *Notifications) Fire(err error) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.done, l.err = true, err
	fs := l.fs
	l.fs = nil
	l.mu.Unlock()
	for _, f := range fs {
		go f(err)
	}
}
