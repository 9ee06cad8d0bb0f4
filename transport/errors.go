package transport

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that has one of these
// meanings matches it with errors.Is.
var (
	// ErrConnectionLost reports that the peer is gone: the connection hit
	// EOF or an I/O error, the peer stopped answering keepalive pings, the
	// peer closed the session with an error, or the session was torn down
	// because of a protocol violation. Every pending stream Read or Write and
	// every Open, Accept and Ping of such a session fails with an error
	// matching it.
	ErrConnectionLost = errors.New("transport: connection lost")

	// ErrSessionClosed reports that the session was closed locally with
	// Close or CloseWithError.
	ErrSessionClosed = errors.New("transport: session closed")

	// ErrGoAway reports that the session is going away: one side sent
	// GOAWAY, so no new stream may be opened in either direction. It is also
	// the final Err of a session that drained gracefully after GOAWAY.
	ErrGoAway = errors.New("transport: session is going away")

	// ErrStreamReset reports that a stream was aborted by Reset on either
	// side, or refused by the peer. The concrete error is a *StreamResetError.
	ErrStreamReset = errors.New("transport: stream reset")

	// ErrStreamLimit reports that Open would exceed the number of
	// concurrently open streams allowed by Config.MaxStreams or by the peer.
	ErrStreamLimit = errors.New("transport: too many open streams")

	// ErrBadPreface reports that the peer does not speak this protocol (wrong
	// magic bytes), speaks an unsupported version, or sent invalid settings.
	ErrBadPreface = errors.New("transport: bad preface")

	// ErrHandshakeTimeout reports that the peer did not complete the
	// handshake within Config.HandshakeTimeout or the context's deadline.
	ErrHandshakeTimeout = errors.New("transport: handshake timed out")

	// ErrSendStalled reports that the session was closed because the data
	// it had to send made no progress for Config.SendStallTimeout: the peer
	// granted no flow-control credit, or did not read the connection. The
	// session's error, and that of its pending calls, matches both it and
	// ErrConnectionLost.
	ErrSendStalled = errors.New("transport: send stalled")

	// ErrFrameTooLarge reports that the peer sent a frame whose payload is
	// larger than this side allows. It is wrapped in a *ProtocolError.
	ErrFrameTooLarge = errors.New("transport: frame too large")
)

// ProtocolError reports a violation of a wire protocol by the peer: of the
// transport's own (part 1 of docs/PROTOCOL.md), or of a protocol carried over
// the session, such as the rpc layer's, which closes the session with
// CloseWithViolation. For a violation the session sees itself, Err returns
// the *ProtocolError and the peer is sent a GOAWAY frame carrying Reason.
type ProtocolError struct {
	// Reason says what rule was broken, for logs and for the peer.
	Reason string
	// Err is a sentinel that classifies the violation, such as
	// ErrFrameTooLarge or a layer's own (rpc.ErrProtocol), or nil.
	Err error
}

// Error describes the violation: Err's text, or "transport: protocol error"
// if Err is nil, then Reason.
func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return e.Err.Error() + ": " + e.Reason
	}
	return "transport: protocol error: " + e.Reason
}

// Unwrap returns e.Err.
func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErrorf(format string, args ...any) *ProtocolError {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}

// GoAwayError reports that the peer closed the session with a GOAWAY
// carrying an error code. It matches ErrConnectionLost.
type GoAwayError struct {
	Code   GoAwayCode
	Reason string // the peer's reason text
}

// Error gives the code and the peer's reason.
func (e *GoAwayError) Error() string {
	return fmt.Sprintf("%v: peer closed the session (%v): %q", ErrConnectionLost, e.Code, e.Reason)
}

// Is reports whether target is ErrConnectionLost.
func (e *GoAwayError) Is(target error) bool { return target == ErrConnectionLost }

// ResetCode says why a stream was reset. It travels in RST frames.
type ResetCode uint32

// Reset codes.
const (
	// ResetCancel: the stream was aborted with Stream.Reset.
	ResetCancel ResetCode = 0
	// ResetRefused: the receiver refused a new stream (accept backlog full
	// or stream limit exceeded). The stream's data was not processed.
	ResetRefused ResetCode = 1
	// ResetGoAway: the receiver refused a new stream because the session
	// is closing. The stream's data was not processed.
	ResetGoAway ResetCode = 2
)

// String names the code.
func (c ResetCode) String() string {
	switch c {
	case ResetCancel:
		return "cancel"
	case ResetRefused:
		return "refused"
	case ResetGoAway:
		return "refused: going away"
	}
	return fmt.Sprintf("code %d", uint32(c))
}

// StreamResetError is the error returned by a reset stream's Read and Write.
// It matches ErrStreamReset, and also ErrGoAway when Code is ResetGoAway.
type StreamResetError struct {
	Code   ResetCode
	Remote bool // reset by the peer (true) or by this side (false)
}

// Error says who reset the stream and why.
func (e *StreamResetError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	return fmt.Sprintf("transport: stream reset %s (%s)", who, e.Code)
}

// Is reports whether target is ErrStreamReset, or ErrGoAway for a stream
// refused because the peer is going away.
func (e *StreamResetError) Is(target error) bool {
	return target == ErrStreamReset || (target == ErrGoAway && e.Code == ResetGoAway)
}

// GoAwayCode says why a session is being closed. It travels in GOAWAY frames.
type GoAwayCode uint32

// GOAWAY codes.
const (
	// GoAwayNormal: graceful shutdown; open streams may finish.
	GoAwayNormal GoAwayCode = 0
	// GoAwayProtocolError: the sender saw a protocol violation and closes
	// the connection right after this frame.
	GoAwayProtocolError GoAwayCode = 1
	// GoAwayInternalError: the sender is closing for a local reason (its
	// reason text says which) and closes the connection right after.
	GoAwayInternalError GoAwayCode = 2
)

// String names the code.
func (c GoAwayCode) String() string {
	switch c {
	case GoAwayNormal:
		return "normal"
	case GoAwayProtocolError:
		return "protocol error"
	case GoAwayInternalError:
		return "internal error"
	}
	return fmt.Sprintf("code %d", uint32(c))
}
