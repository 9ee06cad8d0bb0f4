package netconnect

import (
	"errors"
	"fmt"
)

// Sentinel errors. A session closed for a reason records an error matching
// one of them (Session.Err), and the server's log and Stats name it.
var (
	// ErrBadHead reports a packet whose four head bytes are not the
	// configured ones. The session is closed.
	ErrBadHead = errors.New("netconnect: bad packet head")
	// ErrBadVersion reports a packet whose protocol or server version is not
	// the configured one. The session is closed.
	ErrBadVersion = errors.New("netconnect: bad protocol or server version")
	// ErrBadLength reports a length field below 4 (it counts the command
	// id). The session is closed.
	ErrBadLength = errors.New("netconnect: bad packet length")
	// ErrTooLarge reports a packet body over the configured maximum, read or
	// written. A session that sends one is closed before its body is read.
	ErrTooLarge = errors.New("netconnect: packet too large")
	// ErrQueueFull reports a session whose queue of packets waiting to be
	// written reached its bound: its client does not read fast enough. The
	// session is closed and its queue freed.
	ErrQueueFull = errors.New("netconnect: write queue full")
	// ErrWriteTimeout reports a write to a client that made no progress
	// within the write timeout. The session is closed.
	ErrWriteTimeout = errors.New("netconnect: write timed out")
	// ErrIdle reports a session that sent nothing for the idle timeout. The
	// session is closed.
	ErrIdle = errors.New("netconnect: session idle")
	// ErrTooManySessions reports a connection refused because the server
	// holds its maximum number of sessions.
	ErrTooManySessions = errors.New("netconnect: too many sessions")
	// ErrSessionClosed reports a use of a session that is closed, or a
	// session closed by Session.Close or Server.CloseSession.
	ErrSessionClosed = errors.New("netconnect: session closed")
	// ErrServerClosed reports a use of a server after Close or Shutdown, and
	// is the reason of the sessions they close.
	ErrServerClosed = errors.New("netconnect: server closed")
	// ErrClientClosed reports a use of a Client after Close, or a request
	// pending when its connection ended.
	ErrClientClosed = errors.New("netconnect: client closed")
	// ErrNoProgress reports a reader that returned no data and no error
	// many times in a row; reading stops instead of spinning.
	ErrNoProgress = errors.New("netconnect: reader makes no progress")
)

// A HeaderError is a header that does not match the server's datapack. It
// matches ErrBadHead, ErrBadVersion, ErrBadLength or ErrTooLarge.
type HeaderError struct {
	// Err is the sentinel.
	Err error
	// Field names the header field: "head", "protocol version", "server
	// version", "length" (below 4) or "body length" (over the maximum).
	Field string
	// Got and Want are the field's value and what was expected (for "body
	// length", the maximum).
	Got, Want uint64
}

// Error describes the field that did not match and the values.
func (e *HeaderError) Error() string {
	if e.Field == "body length" {
		return fmt.Sprintf("%v: body of %d bytes, at most %d allowed", e.Err, e.Got, e.Want)
	}
	if e.Field == "length" {
		return fmt.Sprintf("%v: length field %d, at least 4", e.Err, e.Got)
	}
	return fmt.Sprintf("%v: %s %#x, want %#x", e.Err, e.Field, e.Got, e.Want)
}

// Unwrap returns the sentinel.
func (e *HeaderError) Unwrap() error { return e.Err }
