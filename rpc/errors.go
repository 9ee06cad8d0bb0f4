package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/fireflyrpc/firefly/registry"
)

// Sentinel errors. Each keeps matching errors.Is after crossing the wire: a
// call that fails on the peer with one of these returns a *RemoteError that
// unwraps to the same sentinel.
var (
	// ErrConnectionLost reports that the connection is gone: every pending
	// call fails with an error matching it, and so does every later call on a
	// reference that lived on that connection (PB's PBConnectionLost and
	// DeadReferenceError).
	ErrConnectionLost = errors.New("rpc: connection lost")
	// ErrNoSuchMethod reports a call of a method the target does not expose.
	ErrNoSuchMethod = errors.New("rpc: no such method")
	// ErrNoSuchObject reports a call on a reference the peer does not hold
	// (never handed out, already released, or no root object offered).
	ErrNoSuchObject = errors.New("rpc: no such object")
	// ErrBadArguments reports arguments that do not fit the method's
	// parameters (count or type).
	ErrBadArguments = errors.New("rpc: bad arguments")
	// ErrBadReply reports a result that does not fit the caller's reply value,
	// or a result the handler side could not encode.
	ErrBadReply = errors.New("rpc: bad reply")
	// ErrOverloaded reports that the peer refused the call because too many
	// of its handlers were running on the connection.
	ErrOverloaded = errors.New("rpc: overloaded")
	// ErrPanic reports that the handler panicked. The panic was contained;
	// the serving process lives on.
	ErrPanic = errors.New("rpc: handler panicked")
	// ErrReleased reports a call on a reference after Release.
	ErrReleased = errors.New("rpc: reference released")
	// ErrShutdown reports a call refused because the serving side is
	// shutting down or the connection is closing.
	ErrShutdown = errors.New("rpc: shutting down")
	// ErrMessageTooLarge reports a message over the connection's size limit.
	ErrMessageTooLarge = errors.New("rpc: message too large")
	// ErrForeignReference reports a *Ref passed on a connection other than
	// the one it belongs to.
	ErrForeignReference = errors.New("rpc: reference belongs to another connection")
	// ErrNotReferenceable reports a value that cannot be passed by reference
	// (a referenceable must be passed as a non-nil pointer).
	ErrNotReferenceable = errors.New("rpc: value cannot be passed by reference")
	// ErrTooManyReferences reports that the connection's table of exported
	// objects is full (PB's MAX_BROKER_REFS).
	ErrTooManyReferences = errors.New("rpc: too many exported references")
	// ErrTooManyCalls reports that the connection already has the maximum
	// number of outgoing calls waiting for an answer.
	ErrTooManyCalls = errors.New("rpc: too many pending calls")
	// ErrProtocol reports a peer that broke the wire protocol; the
	// connection is closed with a *ProtocolError that matches it.
	ErrProtocol = errors.New("rpc: protocol violation")
	// ErrNameTaken reports a name refused because another live peer holds
	// it; package distributed returns it when a node's name is taken.
	ErrNameTaken = errors.New("rpc: node name taken")
	// ErrIdentityMismatch reports a name refused because the connection did
	// not prove it; package distributed returns it for a node whose name is
	// not its proved identity.
	ErrIdentityMismatch = errors.New("rpc: node name is not the proved identity")
)

// errorCode is the wire code of an error. Zero means "no sentinel".
type errorCode uint8

const (
	codeNone errorCode = iota
	codeConnectionLost
	codeNoSuchMethod
	codeNoSuchObject
	codeBadArguments
	codeBadReply
	codeOverloaded
	codePanic
	codeReleased
	codeShutdown
	codeMessageTooLarge
	codeForeignReference
	codeNotReferenceable
	codeTooManyReferences
	codeTooManyCalls
	codeCanceled
	codeDeadlineExceeded
	codeNameTaken
	codeIdentityMismatch
	codeLimit // one past the last code
)

// sentinels is indexed by errorCode.
var sentinels = [codeLimit]error{
	codeConnectionLost:    ErrConnectionLost,
	codeNoSuchMethod:      ErrNoSuchMethod,
	codeNoSuchObject:      ErrNoSuchObject,
	codeBadArguments:      ErrBadArguments,
	codeBadReply:          ErrBadReply,
	codeOverloaded:        ErrOverloaded,
	codePanic:             ErrPanic,
	codeReleased:          ErrReleased,
	codeShutdown:          ErrShutdown,
	codeMessageTooLarge:   ErrMessageTooLarge,
	codeForeignReference:  ErrForeignReference,
	codeNotReferenceable:  ErrNotReferenceable,
	codeTooManyReferences: ErrTooManyReferences,
	codeTooManyCalls:      ErrTooManyCalls,
	codeCanceled:          context.Canceled,
	codeDeadlineExceeded:  context.DeadlineExceeded,
	codeNameTaken:         ErrNameTaken,
	codeIdentityMismatch:  ErrIdentityMismatch,
}

// codeOf finds the sentinel that err matches, if any.
func codeOf(err error) errorCode {
	if errors.Is(err, registry.ErrBadArguments) {
		return codeBadArguments
	}
	for c := codeConnectionLost; c < codeLimit; c++ {
		if errors.Is(err, sentinels[c]) {
			return c
		}
	}
	return codeNone
}

// RemoteError is an error returned by a handler on the peer. It carries the
// Go type name and message of the handler's error; when that error matched one
// of this package's sentinels (or context.Canceled / DeadlineExceeded) the
// RemoteError unwraps to it, so errors.Is works across the wire.
type RemoteError struct {
	// Type is the Go type of the handler's error, e.g. "*fs.PathError".
	Type string
	// Message is the handler error's text.
	Message string
	// Stack is the handler's stack trace; empty unless the serving side
	// opted in with WithStackTraces.
	Stack string
	// Expected is true when the handler marked the error with Expected.
	Expected bool

	sentinel error
}

// Error returns the remote error's message.
func (e *RemoteError) Error() string {
	return "rpc: remote error: " + e.Message
}

// Unwrap returns the sentinel the remote error matched, or nil.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// expectedError marks an error as expected. See Expected.
type expectedError struct{ err error }

func (e *expectedError) Error() string { return e.err.Error() }
func (e *expectedError) Unwrap() error { return e.err }

// Expected marks err as an expected error, like PB's pb.Error: the serving
// side does not log it, and the caller's *RemoteError has Expected set. The
// caller sees err's type name and message unchanged. Expected(nil) is nil.
func Expected(err error) error {
	if err == nil {
		return nil
	}
	return &expectedError{err: err}
}

// IsExpected reports whether err (or an error it wraps) was marked with
// Expected, here or on the peer.
func IsExpected(err error) bool {
	var ee *expectedError
	if errors.As(err, &ee) {
		return true
	}
	var re *RemoteError
	return errors.As(err, &re) && re.Expected
}

// ProtocolError reports why a connection was closed for breaking the wire
// protocol. It matches ErrProtocol.
type ProtocolError struct {
	Reason string
}

// Error describes the violation.
func (e *ProtocolError) Error() string { return "rpc: protocol violation: " + e.Reason }

// Is reports whether target is ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protocolErrorf(format string, args ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}

// lostError wraps the cause of a connection's end so that it matches
// ErrConnectionLost and still unwraps to the cause.
func lostError(cause error) error {
	if cause == nil || errors.Is(cause, ErrConnectionLost) {
		if cause == nil {
			return ErrConnectionLost
		}
		return cause
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, cause)
}

// stackOf returns the stack trace carried by err, if any.
func stackOf(err error) string {
	var pe *registry.PanicError
	if errors.As(err, &pe) {
		return string(pe.Stack)
	}
	return ""
}
