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
	// ParamTypes describe the parameters' structure (a variadic method's
	// last is its element type), so a client without the Go types can build
	// values gob will decode into them (see cmd/firefly's call).
	ParamTypes []TypeInfo
	// ResultType describes the result's structure; nil when there is none.
	ResultType *TypeInfo
}

// TypeInfo describes a Go type's structure as gob sees it.
type TypeInfo struct {
	// Kind is the reflect.Kind's name: "int", "string", "struct", "slice",
	// "map", "array", "interface", ... A pointer is described by what it
	// points to. "ref" is a reference (*rpc.Ref or a referenceable).
	Kind string
	// Name is the Go type, e.g. "main.Args".
	Name string
	// Elem is the element type of a slice, array, or map (its value).
	Elem *TypeInfo `json:",omitempty"`
	// Key is a map's key type.
	Key *TypeInfo `json:",omitempty"`
	// Len is an array's length.
	Len int `json:",omitempty"`
	// Fields are a struct's fields that gob carries.
	Fields []FieldInfo `json:",omitempty"`
}

// FieldInfo is one struct field of a TypeInfo.
type FieldInfo struct {
	Name string
	Type TypeInfo
}

// maxTypeDepth bounds the nesting introspection describes (recursive types
// end there as kind "interface").
const maxTypeDepth = 8

// describeType returns t's structure.
func describeType(t reflect.Type, depth int) TypeInfo {
	for t.Kind() == reflect.Pointer && t != refType {
		t = t.Elem()
	}
	ti := TypeInfo{Kind: t.Kind().String(), Name: t.String()}
	if isSpecial(t) || (reflect.PointerTo(t).Implements(referenceableType)) {
		ti.Kind = "ref"
		return ti
	}
	if depth >= maxTypeDepth {
		ti.Kind = "interface"
		return ti
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		e := describeType(t.Elem(), depth+1)
		ti.Elem = &e
		if t.Kind() == reflect.Array {
			ti.Len = t.Len()
		}
	case reflect.Map:
		k, e := describeType(t.Key(), depth+1), describeType(t.Elem(), depth+1)
		ti.Key, ti.Elem = &k, &e
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Type.Kind() == reflect.Chan || f.Type.Kind() == reflect.Func {
				continue
			}
			ti.Fields = append(ti.Fields, FieldInfo{Name: f.Name, Type: describeType(f.Type, depth+1)})
		}
	}
	return ti
}

// Lister is implemented by objects that can list their methods for
// introspection: *registry.Object, and package distributed's Service and
// ProxyReference.
type Lister interface {
	Methods() []*registry.Method
}

// WithIntrospection lets peers call IntrospectMethod on any object this side
// serves, to list its methods with their parameter and result types. Off by
// default.
func WithIntrospection(on bool) Option { return func(o *options) { o.introspection = on } }

// Introspection reports whether the server was built WithIntrospection, so
// a layer above it reveals method lists only when the server does.
func (s *Server) Introspection() bool { return s.opts.introspection }

// Describe returns the MethodInfo of each of ms, as IntrospectMethod
// reports them.
func Describe(ms []*registry.Method) []MethodInfo {
	out := make([]MethodInfo, 0, len(ms))
	for _, m := range ms {
		mi := MethodInfo{Name: m.Name, Error: m.HasError(), Signature: m.String()}
		for i, p := range m.Params {
			s := p.String()
			if m.Variadic && i == len(m.Params)-1 {
				s = "..." + p.Elem().String()
				p = p.Elem()
			}
			mi.Params = append(mi.Params, s)
			mi.ParamTypes = append(mi.ParamTypes, describeType(p, 0))
		}
		if m.Result != nil {
			mi.Result = m.Result.String()
			rt := describeType(m.Result, 0)
			mi.ResultType = &rt
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
	return dispatcherTarget(introspector{list: func() []MethodInfo {
		if l, ok := obj.Dispatcher.(Lister); ok {
			return Describe(l.Methods())
		}
		return nil
	}}, obj.val), introspectorMethod
}

// Methods asks the peer to list the remote methods of the object r refers to.
// The peer must have enabled WithIntrospection; otherwise the call fails with
// ErrNoSuchMethod.
func (r *Ref) Methods(ctx context.Context) ([]MethodInfo, error) {
	var ms []MethodInfo
	err := r.Call(ctx, IntrospectMethod, &ms)
	return ms, err
}
