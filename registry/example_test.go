package registry_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
)

// One is the seed's server object.
type One struct{}

// RemoteTakeTwo is exposed as "TakeTwo"; callers may also say "takeTwo".
func (*One) RemoteTakeTwo(ctx context.Context, a int, b string) (string, error) {
	return fmt.Sprintf("%s x %d", b, a), nil
}

// RemoteSum is variadic: the caller passes the slice as the last argument.
func (*One) RemoteSum(xs ...int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// Close is an ordinary method: no peer can reach it.
func (*One) Close() error { return nil }

func Example() {
	reg := registry.New(registry.Options{})
	obj, err := reg.Object(&One{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range obj.Methods() {
		fmt.Println(m)
	}

	m := obj.Lookup("takeTwo")
	res, err := obj.Call(context.Background(), m, []reflect.Value{reflect.ValueOf(2), reflect.ValueOf("apples")})
	fmt.Println(res, err)

	res, _ = obj.Call(context.Background(), obj.Lookup("sum"), []reflect.Value{reflect.ValueOf([]int{1, 2, 3})})
	fmt.Println(res)

	fmt.Println(obj.Lookup("Close") == nil, obj.Lookup("RemoteTakeTwo") == nil)
	// Output:
	// Sum(...int) int
	// TakeTwo(ctx, int, string) (string, error)
	// apples x 2 <nil>
	// 6
	// true true
}

type Leaky struct{}

func (Leaky) RemoteSubscribe(updates chan string) {}

func ExampleRegistry_Object_badShape() {
	_, err := registry.New(registry.Options{}).Object(Leaky{})
	fmt.Println(err)
	// Output:
	// registry: method registry_test.Leaky.RemoteSubscribe: parameter 1 (chan string): gob cannot carry chan string (a channel)
}

// Handle stands for a type the broker carries itself, like *rpc.Ref.
type Handle struct{ id int }

type Lobby struct{}

func (Lobby) RemoteJoin(h *Handle) int         { return h.id }
func (Lobby) RemoteJoinAll(hs []*Handle) error { return nil }

func ExampleOptions_special() {
	reg := registry.New(registry.Options{
		Special: func(t reflect.Type) bool { return t == reflect.TypeFor[*Handle]() },
	})
	_, err := reg.Object(Lobby{})
	fmt.Println(err)
	// Output:
	// registry: method registry_test.Lobby.RemoteJoinAll: parameter 1 ([]*registry_test.Handle): in element: *registry_test.Handle is a reference: references nested in []*registry_test.Handle are not supported; pass them as a top-level argument
}

func ExampleRegistry_Func() {
	reg := registry.New(registry.Options{})
	m, err := reg.Func("print", func(arg int) { fmt.Println("print() called with", arg) })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m)
	m.Call(context.Background(), reflect.Value{}, []reflect.Value{reflect.ValueOf(12)})
	// Output:
	// Print(int)
	// print() called with 12
}

type Crashy struct{}

func (Crashy) RemoteDivide(a, b int) int { return a / b }

func ExamplePanicError() {
	obj, _ := registry.New(registry.Options{}).Object(Crashy{})
	_, err := obj.Call(context.Background(), obj.Lookup("divide"), []reflect.Value{reflect.ValueOf(1), reflect.ValueOf(0)})
	var pe *registry.PanicError
	fmt.Println(errors.As(err, &pe), pe.Method)
	fmt.Println(err)
	// Output:
	// true Divide
	// registry: method Divide panicked: runtime error: integer divide by zero
}

func ExampleCanonical() {
	fmt.Println(registry.Canonical("takeTwo"), registry.Canonical("TakeTwo"), registry.Canonical("") == "")
	// Output:
	// TakeTwo TakeTwo true
}
