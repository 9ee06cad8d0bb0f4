package rpc

import (
	"context"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
)

// IntrospectMethod is the reserved method name that lists an object's remote
// methods when the serving side enabled introspection (WithIntrospection).
// It returns a []MethodInfo. The name cannot clash with a RemoteXxx method.
const IntrospectMethod = "_methods"

// MethodInfo describes one remotely callable method, as introspection
// reports it.
type MethodInfo struct {
	// Name is the exposed name, e.g. "TakeTwo" (or a command id, "101").
	Name string
	// Params are the parameter types after the optional context, in Go
	// syntax, e.g. ["int", "main.Args"]. A variadic method's last is "...T".
	Params []string
	// Result is the result type, or "" when the method returns none.
	Result string
	// Error reports whether the method returns an error.
	Error bool
	// Signature is the method's signature as registry.Method.String shows it.
	Signature string
}

// Lister is implemented by objects that can list their methods for
// introspection: *registry.Object, *Service, *ProxyReference.
type Lister interface {
	Methods() []*registry.Method
}

// WithIntrospection lets peers call IntrospectMethod on any object this side
// serves, to list its methods with their parameter and result types. Off by
// default.
func WithIntrospection(on bool) Option { return func(o *options) { o.introspection = on } }

// describe returns the MethodInfo of ms.
func describe(ms []*registry.Method) []MethodInfo {
	out := make([]MethodInfo, 0, len(ms))
	for _, m := range ms {
		mi := MethodInfo{Name: m.Name, Error: m.HasError(), Signature: m.String()}
		for i, p := range m.Params {
			s := p.String()
			if m.Variadic && i == len(m.Params)-1 {
				s = "..." + p.Elem().String()
			}
			mi.Params = append(mi.Params, s)
		}
		if m.Result != nil {
			mi.Result = m.Result.String()
		}
		out = append(out, mi)
	}
	return out
}

// introspector is the target an IntrospectMethod call runs on.
type introspector struct {
	list func() []MethodInfo
}

var introspectorMethod = func() *registry.Method {
	m, err := registry.New(registry.Options{}).Func("methods", func() []MethodInfo { return nil })
	if err != nil {
		panic(err)
	}
	return m
}()

func (i introspector) Lookup(string) *registry.Method { return introspectorMethod }

func (i introspector) Call(context.Context, *registry.Method, []reflect.Value) (reflect.Value, error) {
	return reflect.ValueOf(i.list()), nil
}

// introspect returns the target and method that answer IntrospectMethod on
// obj, or nil when introspection is off.
func (c *Conn) introspect(obj *target) (*target, *registry.Method) {
	if !c.opts.introspection {
		return nil, nil
	}
	return &target{Dispatcher: introspector{list: func() []MethodInfo {
		if l, ok := obj.Dispatcher.(Lister); ok {
			return describe(l.Methods())
		}
		return nil
	}}, val: obj.val}, introspectorMethod
}

// Methods asks the peer to list the remote methods of the object r refers to.
// The peer must have enabled WithIntrospection; otherwise the call fails with
// ErrNoSuchMethod.
func (r *Ref) Methods(ctx context.Context) ([]MethodInfo, error) {
	var ms []MethodInfo
	err := r.Call(ctx, IntrospectMethod, &ms)
	return ms, err
}
