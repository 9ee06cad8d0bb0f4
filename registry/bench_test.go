package registry

import (
	"context"
	"reflect"
	"testing"
)

type calc struct{}

//go:noinline
func (*calc) RemoteAdd(a, b int) int { return a + b }

//go:noinline
func (*calc) RemoteAddCtx(ctx context.Context, a, b int) (int, error) { return a + b, nil }

var sink int

// BenchmarkDirect is the floor: a plain (non-inlined) method call.
func BenchmarkDirect(b *testing.B) {
	b.ReportAllocs()
	c := &calc{}
	for i := 0; b.Loop(); i++ {
		sink = c.RemoteAdd(i, 2)
	}
}

// BenchmarkReflectCall is a bare reflect.Value.Call of the bound method with
// arguments built beforehand.
func BenchmarkReflectCall(b *testing.B) {
	b.ReportAllocs()
	fn := reflect.ValueOf(&calc{}).MethodByName("RemoteAdd")
	in := []reflect.Value{reflect.ValueOf(1), reflect.ValueOf(2)}
	for b.Loop() {
		sink = int(fn.Call(in)[0].Int())
	}
}

// BenchmarkReflectCallFunc is a bare reflect.Value.Call of the method
// expression with the receiver as first argument: what the registry does
// underneath.
func BenchmarkReflectCallFunc(b *testing.B) {
	b.ReportAllocs()
	m, _ := reflect.TypeFor[*calc]().MethodByName("RemoteAdd")
	in := []reflect.Value{reflect.ValueOf(&calc{}), reflect.ValueOf(1), reflect.ValueOf(2)}
	for b.Loop() {
		sink = int(m.Func.Call(in)[0].Int())
	}
}

// BenchmarkRegistry is Lookup + Call through the registry, arguments built
// beforehand (the broker decodes them into reflect values).
func BenchmarkRegistry(b *testing.B) {
	b.ReportAllocs()
	o, err := New(Options{}).Object(&calc{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	args := []reflect.Value{reflect.ValueOf(1), reflect.ValueOf(2)}
	for b.Loop() {
		m := o.Lookup("add")
		res, _ := o.Call(ctx, m, args)
		sink = int(res.Int())
	}
}

// BenchmarkRegistryCtx is the same with a leading context.Context and an
// error result, the common shape of a remote method.
func BenchmarkRegistryCtx(b *testing.B) {
	b.ReportAllocs()
	o, err := New(Options{}).Object(&calc{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []reflect.Value{reflect.ValueOf(1), reflect.ValueOf(2)}
	for b.Loop() {
		m := o.Lookup("addCtx")
		res, _ := o.Call(ctx, m, args)
		sink = int(res.Int())
	}
}

// BenchmarkReflectCallCtx is a bare reflect call of the context shape.
func BenchmarkReflectCallCtx(b *testing.B) {
	b.ReportAllocs()
	fn := reflect.ValueOf(&calc{}).MethodByName("RemoteAddCtx")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := []reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(1), reflect.ValueOf(2)}
	for b.Loop() {
		sink = int(fn.Call(in)[0].Int())
	}
}

func BenchmarkLookup(b *testing.B) {
	b.ReportAllocs()
	o, _ := New(Options{}).Object(&calc{})
	for b.Loop() {
		if o.Lookup("addCtx") == nil {
			b.Fatal("not found")
		}
	}
}

func BenchmarkObjectCached(b *testing.B) {
	b.ReportAllocs()
	r := New(Options{})
	c := &calc{}
	for b.Loop() {
		if _, err := r.Object(c); err != nil {
			b.Fatal(err)
		}
	}
}
