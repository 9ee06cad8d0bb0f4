package pb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// Python class names of the failures the broker maps to rpc's sentinels.
const (
	pyPBError        = "twisted.spread.pb.Error"
	pyNoSuchMethod   = "twisted.spread.flavors.NoSuchMethod"
	pyConnectionLost = "twisted.spread.pb.PBConnectionLost"
	pyDeadReference  = "twisted.spread.pb.DeadReferenceError"
	pyTypeError      = "builtins.TypeError"
	pyException      = "builtins.Exception"
	// invalidObjectID is the value of Twisted's failure for a message to an
	// object it does not hold.
	invalidObjectID = "Invalid Object ID"
)

// pyBase ends every failure's parents, as Python's MRO ends.
var pyBase = []string{pyException, "builtins.BaseException", "builtins.object"}

// RemoteError is a failure the Python (or PB) peer sent for a call: Twisted's
// CopiedFailure. It unwraps to an *rpc.RemoteError, so code written for the
// firefly wire works unchanged: errors.As finds the *rpc.RemoteError (Type
// is the Python class, Message the exception's text, Expected true for a
// pb.Error), and errors.Is matches rpc.ErrNoSuchMethod (NoSuchMethod),
// rpc.ErrNoSuchObject ("Invalid Object ID"), rpc.ErrConnectionLost
// (PBConnectionLost, DeadReferenceError) and rpc.ErrBadArguments
// (TypeError).
//
// A handler that returns a *RemoteError (its own, or one it received) sends
// the peer a failure with exactly these fields.
type RemoteError struct {
	// Type is the qualified Python class, e.g. "builtins.ValueError".
	Type string
	// Value is str() of the exception.
	Value string
	// Traceback is the remote traceback, "Traceback unavailable\n" unless
	// the peer sends tracebacks.
	Traceback string
	// Parents are the qualified names of the class's MRO, the class first;
	// Twisted's Failure.check and trap compare against them.
	Parents []string

	remote *rpc.RemoteError
}

// Error returns "pb: remote Type: Value".
func (e *RemoteError) Error() string { return "pb: remote " + e.Type + ": " + e.Value }

// Unwrap returns the *rpc.RemoteError the failure stands for.
func (e *RemoteError) Unwrap() error {
	if e.remote != nil {
		return e.remote
	}
	return e.rpcError()
}

func (e *RemoteError) rpcError() *rpc.RemoteError {
	return rpc.NewRemoteError(e.Type, e.Value, e.Traceback, slices.Contains(e.parents(), pyPBError), sentinelOf(e.Type, e.Value))
}

// Check returns the first of names that is the failure's class or one of its
// parents, or "" (Twisted's Failure.check).
func (e *RemoteError) Check(names ...string) string {
	ps := e.parents()
	for _, n := range names {
		if slices.Contains(ps, n) {
			return n
		}
	}
	return ""
}

func (e *RemoteError) parents() []string {
	if len(e.Parents) == 0 {
		return []string{e.Type}
	}
	return e.Parents
}

// newRemoteError builds the error of a received failure.
func newRemoteError(typ, value, traceback string, parents []string) *RemoteError {
	e := &RemoteError{Type: typ, Value: value, Traceback: traceback, Parents: parents}
	e.remote = e.rpcError()
	return e
}

// fireflySentinels are rpc's sentinels that have no Twisted class: they go
// out as failures of these class names, and come back as the sentinel from
// a Go peer.
var fireflySentinels = []struct {
	typ string
	err error
}{
	{"firefly.Overloaded", rpc.ErrOverloaded},
	{"firefly.TooManyReferences", rpc.ErrTooManyReferences},
	{"firefly.TooManyCalls", rpc.ErrTooManyCalls},
	{"firefly.Released", rpc.ErrReleased},
	{"firefly.Shutdown", rpc.ErrShutdown},
	{"firefly.BadReply", rpc.ErrBadReply},
	{"firefly.HandlerPanic", rpc.ErrPanic},
}

// sentinelOf maps a Python failure to rpc's sentinel, or nil.
func sentinelOf(typ, value string) error {
	for _, s := range fireflySentinels {
		if typ == s.typ {
			return s.err
		}
	}
	switch {
	case typ == pyNoSuchMethod:
		return rpc.ErrNoSuchMethod
	case typ == pyPBError && value == invalidObjectID:
		return rpc.ErrNoSuchObject
	case typ == pyConnectionLost || typ == pyDeadReference:
		return rpc.ErrConnectionLost
	case typ == pyTypeError:
		return rpc.ErrBadArguments
	}
	return nil
}

// failure is what a CopyableFailure this side sends says.
type failure struct {
	typ, value, traceback string
	parents               []string
}

// failureOf describes a handler's error for the peer. expected reports an
// error not worth logging (rpc.Expected, and the broker's own refusals).
func failureOf(err error, method string) (f failure, expected bool) {
	var re *RemoteError
	var pf *Failure
	var pe *registry.PanicError
	switch {
	case errors.As(err, &re):
		return failure{re.Type, re.Value, re.Traceback, re.parents()}, rpc.IsExpected(err)
	case errors.As(err, &pf):
		return failure{pf.Type, pf.Value, pf.Traceback, pf.Parents}, slices.Contains(pf.Parents, pyPBError)
	case errors.Is(err, rpc.ErrNoSuchMethod):
		return failure{pyNoSuchMethod, "No such method: remote_" + method, "",
			append([]string{pyNoSuchMethod, "builtins.AttributeError"}, pyBase...)}, true
	case errors.Is(err, rpc.ErrNoSuchObject):
		return failure{pyPBError, invalidObjectID, "", append([]string{pyPBError}, pyBase...)}, true
	case errors.Is(err, rpc.ErrBadArguments):
		return failure{pyTypeError, err.Error(), "", append([]string{pyTypeError}, pyBase...)}, true
	case errors.Is(err, rpc.ErrConnectionLost):
		return failure{pyConnectionLost, err.Error(), "", append([]string{pyConnectionLost}, pyBase...)}, false
	case rpc.IsExpected(err):
		return failure{pyPBError, err.Error(), "", append([]string{pyPBError}, pyBase...)}, true
	case errors.As(err, &pe):
		typ := "firefly.HandlerPanic"
		return failure{typ, err.Error(), string(pe.Stack), append([]string{typ, "builtins.RuntimeError"}, pyBase...)}, false
	}
	for _, s := range fireflySentinels {
		if errors.Is(err, s.err) && s.err != rpc.ErrPanic {
			return failure{s.typ, err.Error(), "", append([]string{s.typ}, pyBase...)}, false
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		typ := "firefly.Canceled"
		return failure{typ, err.Error(), "", append([]string{typ}, pyBase...)}, false
	}
	typ := "go." + strings.TrimLeft(fmt.Sprintf("%T", err), "*")
	return failure{typ, err.Error(), "", append([]string{typ}, pyBase...)}, false
}

// failureValue is the Failure jelly sends for f: Twisted's CopyableFailure
// with every field Twisted 22.4 sends (PB-WIRE.md §6). The traceback goes
// only with unsafeTracebacks.
func failureValue(f failure, unsafeTracebacks bool) *Failure {
	out := &Failure{Type: f.typ, Value: f.value, Parents: f.parents}
	if unsafeTracebacks {
		out.Traceback = f.traceback
	}
	return out
}
