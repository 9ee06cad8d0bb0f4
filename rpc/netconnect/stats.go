package netconnect

import (
	"errors"
	"io"
	"sync/atomic"
)

// Stats are a server's counters (Server.Stats), in the vocabulary of
// rpc.Stats: what is open now, what was opened since start, bytes in and
// out, and maps by kind that leave out the kinds never counted.
type Stats struct {
	// Sessions is the number of sessions open now; SessionsTotal, the
	// sessions opened since start.
	Sessions      int
	SessionsTotal uint64
	// Refused counts connections closed at once because the server held
	// its maximum of sessions (ErrTooManySessions).
	Refused uint64
	// PacketsIn and BytesIn count packets read (headers included);
	// PacketsOut and BytesOut, packets written.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// RateLimited counts packets that waited for the session's rate limit.
	RateLimited uint64
	// Errors counts packets that got no reply because of an error, by
	// kind: "no_handler" (a command without a handler, and no CatchAll),
	// "handler" (the handler failed, a forwarded call included), "panic"
	// (the handler panicked).
	Errors map[string]uint64
	// Closed counts closed sessions by reason: "client" (it closed the
	// connection), "server" (Session.Close, CloseSession, Close,
	// Shutdown), "idle", "too_large", "bad_header", "queue_full",
	// "write_timeout", "error" (any other connection error).
	Closed map[string]uint64
}

// Close reasons, the keys of Stats.Closed.
var closeReasons = [...]string{"client", "server", "idle", "too_large", "bad_header", "queue_full", "write_timeout", "error"}

// Error kinds, the keys of Stats.Errors.
const (
	errNoHandler = iota
	errHandler
	errPanic
	errKinds
)

var errorKinds = [errKinds]string{errNoHandler: "no_handler", errHandler: "handler", errPanic: "panic"}

type stats struct {
	sessionsTotal, refused                   atomic.Uint64
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	rateLimited                              atomic.Uint64
	errors                                   [errKinds]atomic.Uint64
	closed                                   [len(closeReasons)]atomic.Uint64
}

// reasonIndex returns the index in closeReasons of why a session closed,
// and whether it is a limit (worth a warning).
func reasonIndex(err error) (int, bool) {
	switch {
	case errors.Is(err, io.EOF):
		return 0, false
	case errors.Is(err, ErrSessionClosed), errors.Is(err, ErrServerClosed):
		return 1, false
	case errors.Is(err, ErrIdle):
		return 2, true
	case errors.Is(err, ErrTooLarge):
		return 3, true
	case errors.Is(err, ErrBadHead), errors.Is(err, ErrBadVersion), errors.Is(err, ErrBadLength), errors.Is(err, ErrNoProgress):
		return 4, true
	case errors.Is(err, ErrQueueFull):
		return 5, true
	case errors.Is(err, ErrWriteTimeout):
		return 6, true
	}
	return 7, false
}

func (st *stats) snapshot(sessions int) Stats {
	s := Stats{
		Sessions:      sessions,
		SessionsTotal: st.sessionsTotal.Load(),
		Refused:       st.refused.Load(),
		PacketsIn:     st.packetsIn.Load(),
		BytesIn:       st.bytesIn.Load(),
		PacketsOut:    st.packetsOut.Load(),
		BytesOut:      st.bytesOut.Load(),
		RateLimited:   st.rateLimited.Load(),
		Errors:        make(map[string]uint64),
		Closed:        make(map[string]uint64),
	}
	for i, name := range errorKinds {
		if n := st.errors[i].Load(); n > 0 {
			s.Errors[name] = n
		}
	}
	for i, name := range closeReasons {
		if n := st.closed[i].Load(); n > 0 {
			s.Closed[name] = n
		}
	}
	return s
}
