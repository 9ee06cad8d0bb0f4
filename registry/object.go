package registry

import (
	"context"
	"fmt"
	"reflect"
	"slices"
)

// table is the method table of one Go type, shared by all its Objects.
type table struct {
	byName  map[string]*Method // exposed and lower-camel names
	methods []*Method          // sorted by Name
	err     error              // registration failed
}

// Object is a value together with the table of its remotely callable
// methods. It is made by [Registry.Object] and safe for concurrent use.
type Object struct {
	recv reflect.Value
	tab  *table
}

// Lookup returns the method exposed under name, which may be the exposed name
// ("TakeTwo") or its lower-camel form ("takeTwo"); nil when there is none.
// Other spellings ("TAKETWO", "takeTWO", the Go name "RemoteTakeTwo") find
// nothing. Lookup is one map access and does not allocate.
func (o *Object) Lookup(name string) *Method {
	return o.tab.byName[name]
}

// Methods returns the object's remotely callable methods sorted by Name, in
// a new slice.
func (o *Object) Methods() []*Method {
	return slices.Clone(o.tab.methods)
}

// Value returns the value the Object was made from.
func (o *Object) Value() any {
	return o.recv.Interface()
}

// Call calls m on the object. m should come from o.Lookup or o.Methods (a
// method of another type is refused with [ErrBadArguments]). See
// [Method.Call] for ctx, args and the results.
func (o *Object) Call(ctx context.Context, m *Method, args []reflect.Value) (reflect.Value, error) {
	if m == nil {
		return reflect.Value{}, fmt.Errorf("%w: nil method", ErrBadArguments)
	}
	if m.owner != o.tab {
		// A function (no owner), or a method of another table: Call checks
		// the receiver.
		return m.Call(ctx, o.recv, args)
	}
	// The method is one of o's own: o.recv is of its receiver type.
	if err := m.checkArgs(args); err != nil {
		return reflect.Value{}, err
	}
	return m.invoke(ctx, o.recv, args)
}
