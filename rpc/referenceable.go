package rpc

import (
	"errors"
	"reflect"
)

// Referenceable marks a type whose values are passed by reference, like
// subclassing pb.Referenceable in Twisted: embed it in a struct, and a pointer
// to that struct passed as an argument or returned as a result reaches the
// peer as a *Ref it can call back. Only the struct's RemoteXxx methods are
// reachable through that reference.
//
//	type Two struct{ rpc.Referenceable }
//
//	func (t *Two) RemotePrint(arg int) { fmt.Println("Two.print() called with", arg) }
//
// A referenceable is never copied by value: one nested inside a struct, slice
// or map cannot be sent (GobEncode refuses it), and a method whose parameter
// or result type nests one fails at registration. Pass references as
// top-level arguments and results.
type Referenceable struct{}

func (Referenceable) rpcReferenceable() {}

// errNestedReferenceable is what gob reports for a referenceable nested in a
// value sent by copy.
var errNestedReferenceable = errors.New("rpc: a referenceable nested in a struct, slice or map cannot be sent; pass it as a top-level argument or result")

// GobEncode refuses to copy a referenceable by value; it exists so that gob
// reports a clear error for a referenceable nested in a value.
func (Referenceable) GobEncode() ([]byte, error) { return nil, errNestedReferenceable }

// referenceable is implemented by every type that embeds Referenceable.
type referenceable interface{ rpcReferenceable() }

var (
	refType           = reflect.TypeFor[*Ref]()
	referenceableType = reflect.TypeFor[referenceable]()
)

// isSpecial reports the types the broker carries itself instead of gob: *Ref
// and referenceables. The registry refuses them nested inside other types.
func isSpecial(t reflect.Type) bool {
	return t == refType || t.Implements(referenceableType)
}
