package netconnect

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
)

// CatchAll is the command whose handler runs for every command without a
// handler of its own, as Firefly games map only command 0 (Forwarding_0)
// to forward every packet to the gate.
const CatchAll uint32 = 0

// A Handler handles one packet of a session (Firefly's callTarget(command,
// conn, data)). A non-nil reply is sent back with the request's command id;
// a nil reply sends nothing. An error is logged and counted
// (Stats.HandlerErrors) and sends nothing; the session goes on.
//
// The packets of one session are handled one at a time, in the order they
// arrive, on the goroutine that reads the session: while a handler runs,
// that session is not read (its client waits), others are not affected. ctx
// ends when the session closes. body belongs to the handler.
type Handler func(ctx context.Context, s *Session, command uint32, body []byte) (reply []byte, err error)

// A Service maps command ids to handlers (Firefly's CommandService). Its
// methods are safe for concurrent use, also while packets are handled.
type Service struct {
	mu       sync.Mutex // serializes changes
	handlers atomic.Pointer[map[uint32]Handler]
}

// NewService returns an empty service.
func NewService() *Service {
	s := &Service{}
	s.handlers.Store(&map[uint32]Handler{})
	return s
}

// Handle maps h under command, replacing any handler there; a nil h
// removes it. The handler of CatchAll handles every command without its
// own.
func (s *Service) Handle(command uint32, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(*s.handlers.Load())
	if h == nil {
		delete(m, command)
	} else {
		m[command] = h
	}
	s.handlers.Store(&m)
}

// Handler returns the handler that handles command: its own, else the
// CatchAll handler, else nil.
func (s *Service) Handler(command uint32) Handler {
	m := *s.handlers.Load()
	if h := m[command]; h != nil {
		return h
	}
	return m[CatchAll]
}

// Handles reports whether command has a handler of its own.
func (s *Service) Handles(command uint32) bool {
	_, ok := (*s.handlers.Load())[command]
	return ok
}
