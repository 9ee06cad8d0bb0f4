package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type point struct{ X, Y int }

type node struct {
	Val  int
	Next *node
}

type ctxKey struct{}

// shapes has one method of every allowed shape.
type shapes struct{ calls atomic.Int64 }

func (s *shapes) RemoteNone()                        { s.calls.Add(1) }
func (s *shapes) RemoteErr() error                   { return errSentinel }
func (s *shapes) RemoteErrNil() error                { return nil }
func (s *shapes) RemoteResult() int                  { return 42 }
func (s *shapes) RemoteResultErr(a int) (int, error) { return a * 2, nil }
func (s *shapes) RemoteResultFail(a int) (int, error) {
	return a, fmt.Errorf("failed with %d: %w", a, errSentinel)
}
func (s *shapes) RemoteCtxOnly(ctx context.Context) string {
	v, _ := ctx.Value(ctxKey{}).(string)
	return v
}
func (s *shapes) RemoteCtxErr(ctx context.Context) error { return ctx.Err() }
func (s *shapes) RemoteCtxNil(ctx context.Context) bool  { return ctx != nil }
func (s *shapes) RemoteThree(a int, b string, c []byte) string {
	return fmt.Sprintf("%d/%s/%s", a, b, c)
}
func (s *shapes) RemoteVariadic(prefix string, xs ...int) string {
	return fmt.Sprint(prefix, len(xs), xs)
}
func (s *shapes) RemoteCtxVariadic(ctx context.Context, xs ...string) (string, error) {
	return strings.Join(xs, "+"), ctx.Err()
}
func (s *shapes) RemoteStruct(p point) *point                 { return &point{p.Y, p.X} }
func (s *shapes) RemoteMap(m map[string][]int) int            { return len(m["a"]) }
func (s *shapes) RemoteIface(v any) any                       { return v }
func (s *shapes) RemoteTime(t time.Time) time.Time            { return t.Add(time.Hour) }
func (s *shapes) RemoteComplex(c complex128) complex128       { return c * c }
func (s *shapes) RemoteRecursive(n *node) int                 { return n.Val + n.Next.Val }
func (s *shapes) RemoteEmptyStruct(struct{}) struct{}         { return struct{}{} }
func (s *shapes) RemoteArray(a [3]uint8, u uintptr) [2]string { return [2]string{"a", fmt.Sprint(u)} }
func (s *shapes) RemoteNine(a, b, c, d, e, f, g, h, i int) int {
	return a + b + c + d + e + f + g + h + i
}
func (s *shapes) RemoteBoom(what string) int      { panic(what) }
func (s *shapes) RemoteBoomErr() error            { panic(errSentinel) }
func (s *shapes) RemoteIndex(xs []int, i int) int { return xs[i] }

var errSentinel = errors.New("sentinel")

func vals(vs ...any) []reflect.Value {
	out := make([]reflect.Value, len(vs))
	for i, v := range vs {
		out[i] = reflect.ValueOf(v)
	}
	return out
}

func mustObject(t testing.TB, r *Registry, v any) *Object {
	t.Helper()
	o, err := r.Object(v)
	if err != nil {
		t.Fatalf("Object(%T): %v", v, err)
	}
	return o
}

func TestAllowedShapes(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		sig     string
		args    []reflect.Value
		want    any // nil: no result expected
		wantErr error
	}{
		{"None", "None()", nil, nil, nil},
		{"Err", "Err() error", nil, nil, errSentinel},
		{"ErrNil", "ErrNil() error", nil, nil, nil},
		{"Result", "Result() int", nil, 42, nil},
		{"ResultErr", "ResultErr(int) (int, error)", vals(21), 42, nil},
		{"ResultFail", "ResultFail(int) (int, error)", vals(7), 7, errSentinel},
		{"CtxOnly", "CtxOnly(ctx) string", nil, "from caller", nil},
		{"Three", "Three(int, string, []uint8) string", vals(1, "b", []byte("c")), "1/b/c", nil},
		{"Variadic", "Variadic(string, ...int) string", vals("n", []int{4, 5}), "n2 [4 5]", nil},
		{"Variadic", "Variadic(string, ...int) string", vals("n", []int(nil)), "n0 []", nil},
		{"CtxVariadic", "CtxVariadic(ctx, ...string) (string, error)", vals([]string{"a", "b"}), "a+b", nil},
		{"Struct", "Struct(registry.point) *registry.point", vals(point{1, 2}), &point{2, 1}, nil},
		{"Map", "Map(map[string][]int) int", vals(map[string][]int{"a": {1, 2, 3}}), 3, nil},
		{"Iface", "Iface(interface {}) interface {}", []reflect.Value{reflect.ValueOf(&[]any{"x"}).Elem().Index(0)}, "x", nil},
		{"Time", "Time(time.Time) time.Time", vals(t0), t0.Add(time.Hour), nil},
		{"Complex", "Complex(complex128) complex128", vals(2i), complex(-4, 0), nil},
		{"Recursive", "Recursive(*registry.node) int", vals(&node{1, &node{Val: 2}}), 3, nil},
		{"EmptyStruct", "EmptyStruct(struct {}) struct {}", vals(struct{}{}), struct{}{}, nil},
		{"Array", "Array([3]uint8, uintptr) [2]string", vals([3]uint8{}, uintptr(9)), [2]string{"a", "9"}, nil},
		{"Nine", "Nine(int, int, int, int, int, int, int, int, int) int", vals(1, 2, 3, 4, 5, 6, 7, 8, 9), 45, nil},
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "from caller")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := o.Lookup(tc.name)
			if m == nil {
				t.Fatalf("Lookup(%q) = nil", tc.name)
			}
			if got := m.String(); got != tc.sig {
				t.Errorf("String() = %q, want %q", got, tc.sig)
			}
			res, err := o.Call(ctx, m, tc.args)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.want == nil {
				if res.IsValid() {
					t.Errorf("result = %v, want none", res)
				}
				if m.Result != nil {
					t.Errorf("Result = %v, want nil", m.Result)
				}
				return
			}
			if !res.IsValid() {
				t.Fatalf("no result, want %v", tc.want)
			}
			if res.Type() != m.Result {
				t.Errorf("result type %v, Method.Result %v", res.Type(), m.Result)
			}
			if !reflect.DeepEqual(res.Interface(), tc.want) {
				t.Errorf("result = %#v, want %#v", res.Interface(), tc.want)
			}
		})
	}
}

func TestMethodFields(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	tests := []struct {
		name     string
		params   []reflect.Type
		variadic bool
		result   reflect.Type
		ctx, err bool
	}{
		{"None", nil, false, nil, false, false},
		{"Err", nil, false, nil, false, true},
		{"ResultErr", []reflect.Type{reflect.TypeFor[int]()}, false, reflect.TypeFor[int](), false, true},
		{"CtxOnly", nil, false, reflect.TypeFor[string](), true, false},
		{"CtxVariadic", []reflect.Type{reflect.TypeFor[[]string]()}, true, reflect.TypeFor[string](), true, true},
		{"Variadic", []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[[]int]()}, true, reflect.TypeFor[string](), false, false},
	}
	for _, tc := range tests {
		m := o.Lookup(tc.name)
		if m.Name != tc.name || !reflect.DeepEqual(m.Params, tc.params) || m.Variadic != tc.variadic ||
			m.Result != tc.result || m.HasContext() != tc.ctx || m.HasError() != tc.err {
			t.Errorf("%s: got Name=%q Params=%v Variadic=%v Result=%v ctx=%v err=%v", tc.name,
				m.Name, m.Params, m.Variadic, m.Result, m.HasContext(), m.HasError())
		}
	}
}

func TestContextReachesMethod(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := o.Call(ctx, o.Lookup("ctxErr"), nil); err != nil {
		t.Fatalf("live context: %v", err)
	}
	cancel()
	if _, err := o.Call(ctx, o.Lookup("ctxErr"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: got %v, want context.Canceled", err)
	}
	// A cancelled context reaches the variadic form too, after the slice.
	res, err := o.Call(ctx, o.Lookup("ctxVariadic"), vals([]string{"x"}))
	if res.String() != "x" || !errors.Is(err, context.Canceled) {
		t.Fatalf("variadic with cancelled ctx: %v, %v", res, err)
	}
	var nilCtx context.Context
	res, err = o.Call(nilCtx, o.Lookup("ctxNil"), nil)
	if err != nil || !res.Bool() {
		t.Fatalf("nil ctx: method saw a nil context (%v, %v)", res, err)
	}
}

func TestPanicBecomesPanicError(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	res, err := o.Call(context.Background(), o.Lookup("boom"), vals("kaboom"))
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want *PanicError", err, err)
	}
	if res.IsValid() {
		t.Errorf("result %v after a panic, want none", res)
	}
	if pe.Method != "Boom" || pe.Value != "kaboom" {
		t.Errorf("PanicError = {%q, %v}, want {Boom, kaboom}", pe.Method, pe.Value)
	}
	if !strings.Contains(string(pe.Stack), "RemoteBoom") {
		t.Errorf("stack does not show the panicking method:\n%s", pe.Stack)
	}
	if got, want := err.Error(), "registry: method Boom panicked: kaboom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	_, err = o.Call(context.Background(), o.Lookup("boomErr"), nil)
	if !errors.As(err, &pe) || !errors.Is(err, errSentinel) {
		t.Errorf("panic(err): got %v, want a *PanicError unwrapping to the error", err)
	}
	// A runtime panic (index out of range) is recovered too.
	_, err = o.Call(context.Background(), o.Lookup("index"), vals([]int{1}, 5))
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("runtime panic: got %v", err)
	}
}

type recvA struct{}
type recvB struct{}

func (recvA) RemoteHello() string { return "a" }
func (recvB) RemoteHello() string { return "b" }

type hidden struct {
	Exported   int
	unexported int //lint:ignore U1000 the test reads it through reflection
}

func TestBadArguments(t *testing.T) {
	s := &shapes{}
	o := mustObject(t, New(Options{}), s)
	none := o.Lookup("none")
	three := o.Lookup("three")
	h := reflect.ValueOf(hidden{})
	tests := []struct {
		name string
		m    *Method
		args []reflect.Value
		want string
	}{
		{"too many", none, vals(1), "None takes 0 arguments, got 1"},
		{"too few", three, vals(1, "b"), "Three takes 3 arguments, got 2"},
		{"nil args for three", three, nil, "Three takes 3 arguments, got 0"},
		{"wrong type", three, vals(1, 2, []byte{}), "Three: argument 2 is int, want string"},
		{"convertible is not enough", three, vals(int32(1), "b", []byte{}), "argument 1 is int32, want int"},
		{"invalid value", three, []reflect.Value{{}, reflect.ValueOf("b"), reflect.ValueOf([]byte{})}, "argument 1 is an invalid or unexported value"},
		{"unexported field", three, []reflect.Value{h.Field(1), reflect.ValueOf("b"), reflect.ValueOf([]byte{})}, "argument 1 is an invalid or unexported value"},
		{"variadic elements instead of slice", o.Lookup("variadic"), vals("p", 1, 2), "Variadic takes 2 arguments, got 3"},
		{"variadic element type", o.Lookup("variadic"), vals("p", 1), "argument 2 is int, want []int"},
		{"nil method", nil, nil, "nil method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := o.Call(context.Background(), tc.m, tc.args)
			if !errors.Is(err, ErrBadArguments) {
				t.Fatalf("error %v, want ErrBadArguments", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if res.IsValid() {
				t.Errorf("result %v with bad arguments", res)
			}
		})
	}
	if n := s.calls.Load(); n != 0 {
		t.Errorf("method ran %d times with bad arguments", n)
	}

	// The receiver must be of the method's type.
	ma := mustObject(t, New(Options{}), recvA{}).Lookup("hello")
	ob := mustObject(t, New(Options{}), recvB{})
	if _, err := ob.Call(context.Background(), ma, nil); !errors.Is(err, ErrBadArguments) ||
		!strings.Contains(err.Error(), "receiver is registry.recvB, want registry.recvA") {
		t.Errorf("method of another type: %v", err)
	}
	if _, err := ma.Call(context.Background(), reflect.Value{}, nil); !errors.Is(err, ErrBadArguments) {
		t.Errorf("invalid receiver: %v", err)
	}
	if res, err := ma.Call(context.Background(), reflect.ValueOf(recvA{}), nil); err != nil || res.String() != "a" {
		t.Errorf("Method.Call with its own receiver type: %v, %v", res, err)
	}
	// A method of the same type from another Registry's table is checked,
	// not trusted, and fits: the receiver is of its type.
	oa := mustObject(t, New(Options{}), recvA{})
	if res, err := oa.Call(context.Background(), ma, nil); err != nil || res.String() != "a" {
		t.Errorf("method of the same type from another registry: %v, %v", res, err)
	}
}

type iface interface{ Name() string }
type named string

func (n named) Name() string { return string(n) }

type takesIface struct{}

func (takesIface) RemoteGreet(v iface) string { return "hi " + v.Name() }

func TestAssignableArgument(t *testing.T) {
	o := mustObject(t, New(Options{}), takesIface{})
	res, err := o.Call(context.Background(), o.Lookup("greet"), vals(named("bob")))
	if err != nil || res.String() != "hi bob" {
		t.Fatalf("concrete value for an interface parameter: %v, %v", res, err)
	}
}

func TestArgType(t *testing.T) {
	m, err := New(Options{}).Func("f", func(ctx context.Context, a int, rest ...string) {})
	if err != nil {
		t.Fatal(err)
	}
	intT, strT := reflect.TypeFor[int](), reflect.TypeFor[string]()
	for i, want := range []reflect.Type{intT, strT, strT, strT} {
		if got := m.ArgType(i); got != want {
			t.Errorf("ArgType(%d) = %v, want %v", i, got, want)
		}
	}
	m, err = New(Options{}).Func("g", func(a int, b []string) {})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.ArgType(1); got != reflect.TypeFor[[]string]() {
		t.Errorf("ArgType(1) of a slice parameter = %v, want []string", got)
	}
}

// selfCtx is a context that holds itself as a context.Context variable, as
// the rpc package's call context does; it counts the calls of ContextValue.
type selfCtx struct {
	context.Context
	self  context.Context
	asked int
}

func (c *selfCtx) ContextValue() reflect.Value {
	c.asked++
	return reflect.ValueOf(&c.self).Elem()
}

// TestContextValue: a context that holds itself as a variable is passed to
// the method through that variable, and is the context the method gets.
func TestContextValue(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	c := &selfCtx{Context: context.WithValue(context.Background(), ctxKey{}, "own value")}
	c.self = c
	res, err := o.Call(c, o.Lookup("ctxOnly"), nil)
	if err != nil || res.Interface() != "own value" {
		t.Fatalf("ctxOnly = %v, %v; want own value", res, err)
	}
	if c.asked != 1 {
		t.Errorf("ContextValue called %d times, want 1", c.asked)
	}
	res, err = o.Call(c, o.Lookup("ctxVariadic"), vals([]string{"x", "y"}))
	if err != nil || res.Interface() != "x+y" || c.asked != 2 {
		t.Errorf("ctxVariadic = %v, %v, ContextValue called %d times; want x+y, 2", res, err, c.asked)
	}
}
