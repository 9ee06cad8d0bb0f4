package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc/internal/wire"
	"github.com/fireflyrpc/firefly/transport"
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
	// ErrProtocol reports a peer that broke the rpc protocol (part 2 of
	// docs/PROTOCOL.md); the connection is closed with a
	// *transport.ProtocolError whose Err is ErrProtocol.
	ErrProtocol = wire.ErrProtocol
	// ErrNameTaken reports a name refused because another live peer holds
	// it; package distributed returns it when a node's name is taken.
	ErrNameTaken = errors.New("rpc: node name taken")
	// ErrIdentityMismatch reports a name refused because the connection did
	// not prove it; package distributed returns it for a node whose name is
	// not its proved identity.
	ErrIdentityMismatch = errors.New("rpc: node name is not the proved identity")
	// ErrBadOption reports an option given a value it cannot take; the
	// error is an *OptionError naming the option.
	ErrBadOption = errors.New("rpc: bad option")
)

// OptionError reports an option of NewServer, Dial or NewConn given a value
// it cannot take. It matches ErrBadOption.
type OptionError struct {
	Option string // the option's function, e.g. "WithMaxLanes"
	Value  any    // the value given
	Reason string // what is wrong with it
	Err    error  // the underlying error, if any (WithTransportConfig)
}

// Error names the option, its value and the reason.
func (e *OptionError) Error() string {
	if _, ok := e.Value.(transport.Config); ok {
		return fmt.Sprintf("rpc: %s: %s", e.Option, e.Reason)
	}
	return fmt.Sprintf("rpc: %s(%v): %s", e.Option, e.Value, e.Reason)
}

// Is reports whether target is ErrBadOption.
func (e *OptionError) Is(target error) bool { return target == ErrBadOption }

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }

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

// sentinelNames is indexed by errorCode: the names an ERROR's type field
// carries for an error that matched a sentinel and has no exported type.
var sentinelNames = [codeLimit]string{
	codeConnectionLost:    "rpc.ErrConnectionLost",
	codeNoSuchMethod:      "rpc.ErrNoSuchMethod",
	codeNoSuchObject:      "rpc.ErrNoSuchObject",
	codeBadArguments:      "rpc.ErrBadArguments",
	codeBadReply:          "rpc.ErrBadReply",
	codeOverloaded:        "rpc.ErrOverloaded",
	codePanic:             "rpc.ErrPanic",
	codeReleased:          "rpc.ErrReleased",
	codeShutdown:          "rpc.ErrShutdown",
	codeMessageTooLarge:   "rpc.ErrMessageTooLarge",
	codeForeignReference:  "rpc.ErrForeignReference",
	codeNotReferenceable:  "rpc.ErrNotReferenceable",
	codeTooManyReferences: "rpc.ErrTooManyReferences",
	codeTooManyCalls:      "rpc.ErrTooManyCalls",
	codeCanceled:          "context.Canceled",
	codeDeadlineExceeded:  "context.DeadlineExceeded",
}

// typeName is what an ERROR message says of err's type (docs/PROTOCOL.md,
// ERROR): the first exported error type in err's chain, such as
// "*fs.PathError"; else the name of the sentinel err matched (code), such as
// "rpc.ErrNoSuchObject"; else "error". Unexported types (*fmt.wrapError,
// *errors.errorString, a package's private types) are details of their
// package a caller cannot use, and are skipped.
func typeName(err error, code errorCode) string {
	if name := exportedType(err, 0); name != "" {
		return name
	}
	if code != codeNone && code < codeLimit {
		return sentinelNames[code]
	}
	return "error"
}

// exportedType walks err's chain, depth first, for an exported type.
func exportedType(err error, depth int) string {
	if err == nil || depth > 32 {
		return ""
	}
	name := fmt.Sprintf("%T", err)
	base := name
	if j := strings.IndexByte(base, '['); j >= 0 { // a generic type's arguments
		base = base[:j]
	}
	if i := strings.LastIndexByte(base, '.'); i >= 0 && i+1 < len(base) {
		if r, _ := utf8.DecodeRuneInString(base[i+1:]); unicode.IsUpper(r) {
			return name
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return exportedType(u.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if name := exportedType(e, depth+1); name != "" {
				return name
			}
		}
	}
	return ""
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
	// Type names the handler error's type: the first exported error type in
	// its chain, e.g. "*fs.PathError"; else the sentinel it matched, e.g.
	// "rpc.ErrNoSuchObject" or "context.Canceled"; else "error". "panic"
	// for a handler panic.
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

// protocolErrorf reports a violation of the rpc protocol: a
// *transport.ProtocolError that matches ErrProtocol.
func protocolErrorf(format string, args ...any) error {
	return wire.Errorf(format, args...)
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
