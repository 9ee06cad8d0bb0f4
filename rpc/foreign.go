package rpc

import (
	"context"
	"reflect"
)

// A Remote carries the calls of a *Ref whose object lives across another
// wire protocol than this package's own, such as Twisted's Perspective
// Broker wire in package rpc/pb. A *Ref made by NewRemoteRef behaves as any
// other: Call, Go, Send, Release and NotifyOnDisconnect go to its Remote,
// so code that holds a *Ref does not care which wire carries it.
//
// A Remote is safe for concurrent use. Its methods have the meaning of the
// *Ref methods of the same names; args are the call's arguments as the
// caller gave them. A Remote that also implements io.Closer is closed when a
// distributed.Root drops or replaces the child it carries (Root.TakeProxy).
type Remote interface {
	Call(ctx context.Context, method string, reply any, args []any) error
	Send(ctx context.Context, method string, args []any) error
	Release()
	NotifyOnDisconnect(f func(error)) (cancel func())
	String() string
}

// NewRemoteRef returns a *Ref whose calls go to r. Its Conn is nil: it lives
// on no connection of this package, and passing it over one fails with
// ErrForeignReference.
func NewRemoteRef(r Remote) *Ref { return &Ref{remote: r} }

// Remote returns the Remote a *Ref made by NewRemoteRef carries its calls
// through, or nil for a reference on one of this package's connections.
func (r *Ref) Remote() Remote { return r.remote }

// PassedByReference reports whether values of type t cross a connection by
// reference rather than by copy: *Ref, and pointers to types that embed
// Referenceable. Another wire uses it to decide what to export.
func PassedByReference(t reflect.Type) bool { return isSpecial(t) }

// NewRemoteError returns the *RemoteError another wire reports for a
// handler's failure on its peer. It unwraps to sentinel (nil for none), so
// errors.Is matches the same sentinels as on this package's own wire.
func NewRemoteError(typ, message, stack string, expected bool, sentinel error) *RemoteError {
	return &RemoteError{Type: typ, Message: message, Stack: stack, Expected: expected, sentinel: sentinel}
}

// goRemote runs an asynchronous call of a Remote's *Ref (see Ref.Go).
func (r *Ref) goRemote(ctx context.Context, call *Call) *Call {
	go func() {
		call.Error = r.remote.Call(ctx, call.Method, call.Reply, call.Args)
		call.finish()
	}()
	return call
}
