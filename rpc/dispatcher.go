package rpc

import (
	"context"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
)

// A Dispatcher is an object with a method table of its own, such as
// package distributed's Service: instead of reflecting on its RemoteXxx
// methods, the broker asks it for the method a call names and has it run
// the call. A *registry.Object is
// a Dispatcher. A value that implements Dispatcher is served through it as a
// root object, and, when it also embeds Referenceable, when passed by
// reference.
type Dispatcher interface {
	// Lookup returns the method called name, or nil.
	Lookup(name string) *registry.Method
	// Call runs m with args (decoded into m.Params) and returns its result
	// and error. The values in args are valid only until Call returns (the
	// broker reuses their storage for later calls): Call must not keep
	// them, as io.Reader's Read must not keep its buffer.
	Call(ctx context.Context, m *registry.Method, args []reflect.Value) (reflect.Value, error)
}

// An Abandoner is a Dispatcher that wants to know when a method it returned
// from Lookup will not be called after all: the broker looked the call up,
// then refused it (arguments that do not fit, too many handlers, shutdown).
// A Serial distributed.Service uses it to free the call's place in its
// queue. The broker calls Lookup once per call it reads, on the reading goroutine, in the order
// the calls arrived on their lane, and then either Call or Abandon with the
// method Lookup returned.
type Abandoner interface {
	Abandon(m *registry.Method)
}

// A ContextFree Dispatcher tells the broker which calls never use their
// context: for a method m with ContextFree(m) true, Call(ctx, m, args) must
// not use ctx, nor hand it to anything, not even while it runs. The broker
// then reuses the state of such calls once they are answered, as it does
// for the methods of a *registry.Object that take no context: a call
// allocates less. A Parallel distributed.Service is one for its targets
// that take no context.
type ContextFree interface {
	ContextFree(m *registry.Method) bool
}

// contextFree reports whether a call of m on obj never uses its context
// (see ContextFree).
func contextFree(obj *target, m *registry.Method) bool {
	if obj.methods {
		return !m.HasContext()
	}
	return obj.free != nil && obj.free.ContextFree(m)
}

// target is a local object calls can reach: its dispatcher and the value it
// stands for (whose identity references keep).
type target struct {
	Dispatcher
	val any
	// What contextFree asks of the dispatcher, found once (see
	// dispatcherTarget): methods is set for a *registry.Object, and free
	// holds the dispatcher when it is a ContextFree.
	methods bool
	free    ContextFree
}

// dispatcherTarget makes the target served through d for the value v.
func dispatcherTarget(d Dispatcher, v any) *target {
	t := &target{Dispatcher: d, val: v}
	if _, ok := d.(*registry.Object); ok {
		t.methods = true
	} else if f, ok := d.(ContextFree); ok {
		t.free = f
	}
	return t
}

// Value returns the object the target stands for.
func (t *target) Value() any { return t.val }

// newTarget makes a target of v: v itself when it is a Dispatcher, else its
// RemoteXxx method table.
func newTarget(reg *registry.Registry, v any) (*target, error) {
	if d, ok := v.(Dispatcher); ok {
		return dispatcherTarget(d, v), nil
	}
	obj, err := reg.Object(v)
	if err != nil {
		return nil, err
	}
	return dispatcherTarget(obj, v), nil
}
