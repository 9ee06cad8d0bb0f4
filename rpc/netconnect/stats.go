package netconnect

import (
	"errors"
	"io"
	"sync/atomic"
)

// Stats are a server's counters since it was made (Server.Stats).
type Stats struct {
	// Sessions is the number of sessions open now.
	Sessions int
	// Accepted counts sessions accepted; Refused, connections closed at
	// once because the server held its maximum of sessions.
	Accepted, Refused uint64
	// PacketsIn and BytesIn count packets read (headers included);
	// PacketsOut and BytesOut, packets written.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// Unhandled counts packets of a command without a handler (and no
	// CatchAll); HandlerErrors, handlers that failed or panicked.
	Unhandled, HandlerErrors uint64
	// RateLimited counts packets that waited for the session's rate limit.
	RateLimited uint64
	// Closed counts closed sessions by reason: "client" (it closed the
	// connection), "server" (Session.Close, CloseSession, Close,
	// Shutdown), "idle", "too_large", "bad_header", "queue_full",
	// "write_timeout", "error" (any other connection error).
	Closed map[string]uint64
}

// Close reasons, the keys of Stats.Closed.
var closeReasons = [...]string{"client", "server", "idle", "too_large", "bad_header", "queue_full", "write_timeout", "error"}

type stats struct {
	accepted, refused                        atomic.Uint64
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	unhandled, handlerErrors, rateLimited    atomic.Uint64
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
		Accepted:      st.accepted.Load(),
		Refused:       st.refused.Load(),
		PacketsIn:     st.packetsIn.Load(),
		BytesIn:       st.bytesIn.Load(),
		PacketsOut:    st.packetsOut.Load(),
		BytesOut:      st.bytesOut.Load(),
		Unhandled:     st.unhandled.Load(),
		HandlerErrors: st.handlerErrors.Load(),
		RateLimited:   st.rateLimited.Load(),
		Closed:        make(map[string]uint64, len(closeReasons)),
	}
	for i, name := range closeReasons {
		s.Closed[name] = st.closed[i].Load()
	}
	return s
}
