// Package registry turns a Go value into the table of methods a peer may call
// on it, the way Twisted's Perspective Broker lets a peer call only the
// remote_xxx methods of a Referenceable. It is the only door into a process,
// so it is strict, and it sits on every call's path, so a call costs a map
// lookup plus a reflect call.
//
// # Which methods are exposed
//
// A method is remotely callable when it is exported, in the method set of the
// registered value, and named "Remote" followed by a name that starts with an
// upper-case letter: RemoteTakeTwo is exposed as "TakeTwo". Callers may use
// the exposed name or its lower-camel form ("takeTwo"), so PB and Firefly code
// ports one to one; no other spelling finds it ("TAKETWO", "takeTWO", the Go
// name "RemoteTakeTwo").
//
// Everything else is unreachable: methods without the prefix (String,
// Close), unexported methods (remoteFoo),
// other capitalisations (REMOTEFoo), and names that only start with the word
// ("Remote" itself, "Remotefoo", "Remote_x"). Those are ordinary Go methods
// and are ignored silently, not reported: the naming rule is what marks a
// method remote, as remote_ does in PB.
//
// Methods promoted from an embedded field are part of the method set and are
// treated like declared ones, as a PB subclass inherits its base's remote_
// methods. An embedded type's other methods stay unreachable, so embedding a
// marker type exposes nothing of it. Beware of embedding types you do not
// own: embedding a net.Conn promotes RemoteAddr, which is then exposed as
// "Addr".
//
// Pointer and value receivers follow Go: [Registry.Object] uses the method
// set of the value it is given, so pass a pointer to expose pointer-receiver
// methods. A nil pointer or nil interface is refused.
//
// # Shapes
//
// A remote method takes an optional leading context.Context (exactly that
// interface type; it receives the caller's context), then any number of
// parameters gob can carry, the last possibly variadic. It returns nothing,
// error, T, or (T, error), where T is a type gob can carry. Whether gob can
// carry a type is decided the way encoding/gob decides, without running it:
// chan, func and unsafe.Pointer are refused, a struct with fields must send
// at least one of them (or implement gob.GobEncoder or encoding.BinaryMarshaler and their
// decoders), and so on through fields, elements, keys and pointers,
// recursive types included. Struct fields gob skips (unexported, chan, func)
// are skipped by the check too. Interface types are accepted: the values
// they receive are those gob puts in an interface, sent as an interface,
// whose concrete types are registered with gob.Register (package rpc's
// documentation gives the whole rule, with the scalars, nil and references
// it also lets in).
//
// Gob encodes through GobEncoder and BinaryMarshaler, not TextMarshaler, so a
// struct with only unexported fields that implements only the text
// interfaces is refused. Struct fields of context.Context type are refused
// too: a context is passed only as the leading parameter.
//
// Types for which [Options].Special reports true (the broker's references)
// are accepted as a whole parameter or result, and refused anywhere inside
// another type, the slice of a variadic parameter included (refs ...*rpc.Ref
// is refused: take the references as separate parameters).
//
// A method that is named like a remote method but has any other shape makes
// the registration fail with a [RegistrationError] naming the method and the
// reason; it is never skipped silently. So does a name that is not
// case-stable (see below).
//
// # Names that could collide
//
// Go method names are distinct, but their lower-camel forms need not be:
// U+212A KELVIN SIGN lowers to "k", as "K" does, so RemoteKey and a method
// spelled with the Kelvin sign would both answer to "key"; likewise U+0130
// (İ) lowers to "i". So a registration fails when two exposed names answer
// to the same lookup key, and also when an exposed name does not come back
// from its lower-camel form through [Canonical] (Canonical("key") is "Key",
// not the Kelvin spelling). With that rule, a name that finds a method finds
// the same method after Canonical. The lookup keys are exactly the exposed
// name and its lower-camel form; no other case folding is done.
//
// # Calls
//
// [Object.Lookup] is one map access and does not allocate. [Method.Call]
// checks the arguments against the precomputed parameter types, builds the
// input of reflect's call in an array on its stack and calls. A panic in the
// method is recovered and returned as a *[PanicError] with the stack;
// arguments that do not fit return an error wrapping [ErrBadArguments]
// without running anything. A nil context is replaced by
// context.Background(). The context reaches reflect through a box pooled per
// Registry, so passing it costs no allocation; the allocations left are
// reflect's own (the result slice and the result values).
//
// [Registry.Func] registers a plain function under a name with the same shape
// rules; the name must be an identifier starting with a letter and is exposed
// as Canonical(name).
//
// # Example
//
// A complete program:
//
//	package main
//
//	import (
//		"context"
//		"fmt"
//		"reflect"
//
//		"github.com/fireflyrpc/firefly/registry"
//	)
//
//	type One struct{}
//
//	// RemoteTakeTwo is exposed as "TakeTwo" (and "takeTwo").
//	func (*One) RemoteTakeTwo(ctx context.Context, a int, b string) (string, error) {
//		return fmt.Sprintf("%s x %d", b, a), nil
//	}
//
//	// Close is not reachable: it lacks the Remote prefix.
//	func (*One) Close() error { return nil }
//
//	func main() {
//		reg := registry.New(registry.Options{})
//		obj, err := reg.Object(&One{})
//		if err != nil {
//			panic(err)
//		}
//		m := obj.Lookup("takeTwo")
//		fmt.Println(m)
//		res, err := obj.Call(context.Background(), m, []reflect.Value{
//			reflect.ValueOf(2), reflect.ValueOf("apples"),
//		})
//		fmt.Println(res, err)
//		fmt.Println(obj.Lookup("Close") == nil)
//	}
//
// It prints:
//
//	TakeTwo(ctx, int, string) (string, error)
//	apples x 2 <nil>
//	true
package registry
