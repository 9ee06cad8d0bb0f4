package rpc_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// A diffCase is a value of a sender type, to be received as a receiver
// type: by plain gob (the oracle) and by firefly, as an argument and as a
// result.
type diffCase struct {
	name string
	send reflect.Type  // the sender's static type
	val  reflect.Value // of type send; invalid: the zero value of send
	recv reflect.Type
}

// diffOutcome is what a receiver got: a value, or a refusal.
type diffOutcome struct {
	v   reflect.Value
	err error
}

func (o diffOutcome) String() string {
	if o.err != nil {
		return "refused: " + o.err.Error()
	}
	return fmt.Sprintf("%#v", o.v.Interface())
}

// sendValue returns c's value as an addressable value of its sender type.
func (c diffCase) sendValue() reflect.Value {
	p := reflect.New(c.send).Elem()
	if c.val.IsValid() {
		p.Set(c.val)
	}
	return p
}

// viaGob sends c through a plain gob Encoder and Decoder.
func viaGob(c diffCase) (out diffOutcome) {
	defer func() {
		if p := recover(); p != nil {
			out = diffOutcome{err: fmt.Errorf("panic: %v", p)}
		}
	}()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).EncodeValue(c.sendValue()); err != nil {
		return diffOutcome{err: err}
	}
	p := reflect.New(c.recv)
	if err := gob.NewDecoder(&b).DecodeValue(p); err != nil {
		return diffOutcome{err: err}
	}
	return diffOutcome{v: p.Elem()}
}

// diffRoot serves one method per case and direction: "take<i>" receives
// case i's receiver type and records it, "give<i>" returns case i's value
// as its sender type.
type diffRoot struct {
	reg   *registry.Registry
	mu    sync.Mutex
	ms    map[string]*registry.Method
	cases []diffCase
	got   map[int]reflect.Value
}

func (d *diffRoot) Lookup(name string) *registry.Method {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.ms[name]; ok {
		return m
	}
	var i int
	var fn reflect.Value
	switch {
	case strings.HasPrefix(name, "take"):
		fmt.Sscan(name[4:], &i)
		c := d.cases[i]
		fn = reflect.MakeFunc(reflect.FuncOf([]reflect.Type{c.recv}, nil, false), func(in []reflect.Value) []reflect.Value {
			d.mu.Lock()
			d.got[i] = in[0]
			d.mu.Unlock()
			return nil
		})
	case strings.HasPrefix(name, "give"):
		fmt.Sscan(name[4:], &i)
		c := d.cases[i]
		fn = reflect.MakeFunc(reflect.FuncOf(nil, []reflect.Type{c.send}, false), func([]reflect.Value) []reflect.Value {
			return []reflect.Value{c.sendValue()}
		})
	default:
		return nil
	}
	m, err := d.reg.Func(name, fn.Interface())
	if err != nil {
		return nil
	}
	d.ms[name] = m
	return m
}

func (d *diffRoot) Call(ctx context.Context, m *registry.Method, args []reflect.Value) (reflect.Value, error) {
	return m.Call(ctx, reflect.Value{}, args)
}

// viaArgument sends c as the argument of a call through conn.
func viaArgument(ctx context.Context, d *diffRoot, conn *rpc.Conn, i int) diffOutcome {
	c := d.cases[i]
	// A value of interface type is passed as gob is given one: a pointer
	// to a variable of that type.
	arg := c.sendValue().Interface()
	if c.send.Kind() == reflect.Interface {
		p := reflect.New(c.send)
		p.Elem().Set(c.sendValue())
		arg = p.Interface()
	}
	if err := conn.Root().Call(ctx, fmt.Sprintf("take%d", i), nil, arg); err != nil {
		return diffOutcome{err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.got[i]
	if !ok {
		return diffOutcome{err: errors.New("the handler did not run")}
	}
	delete(d.got, i)
	return diffOutcome{v: v}
}

// viaResult has the server return c's value into a reply of c's receiver
// type.
func viaResult(ctx context.Context, conn *rpc.Conn, c diffCase, i int) diffOutcome {
	p := reflect.New(c.recv)
	if err := conn.Root().Call(ctx, fmt.Sprintf("give%d", i), p.Interface()); err != nil {
		return diffOutcome{err: err}
	}
	return diffOutcome{v: p.Elem()}
}

// agree reports whether firefly's outcome is gob's: the same value, or both
// refusing.
func agree(g, f diffOutcome) bool {
	if g.err != nil || f.err != nil {
		return g.err != nil && f.err != nil
	}
	return reflect.DeepEqual(g.v.Interface(), f.v.Interface())
}

// TestGobDifferential sends every case of the table through plain gob and
// through firefly, as an argument and as a result, and wants the same
// outcome, or the documented extension (see expectedExtension).
func TestGobDifferential(t *testing.T) {
	cases := diffTable()
	if len(cases) < 300 {
		t.Fatalf("the table has %d cases, want at least 300", len(cases))
	}
	d := &diffRoot{reg: registry.New(registry.Options{}), ms: map[string]*registry.Method{}, cases: cases, got: map[int]reflect.Value{}}
	_, conn := pair(t, d, nil)
	ctx := testutil.Context(t)
	fails := 0
	exts := map[string]int{}
	for i, c := range cases {
		g := viaGob(c)
		want, ext := expectedExtension(c, g)
		if ext != "" && !agree(g, want) {
			exts[ext]++
		}
		for _, dir := range []string{"argument", "result"} {
			var f diffOutcome
			if dir == "argument" {
				f = viaArgument(ctx, d, conn, i)
			} else {
				f = viaResult(ctx, conn, c, i)
			}
			if f.err != nil && !errors.Is(f.err, rpc.ErrBadArguments) && !errors.Is(f.err, rpc.ErrBadReply) {
				t.Errorf("case %d %s (%s as %s) as %s: refused with %v, want ErrBadArguments or ErrBadReply", i, c.name, c.send, c.recv, dir, f.err)
				fails++
			}
			if !agree(want, f) {
				fails++
				note := ""
				if ext != "" {
					note = " (extension: " + ext + ")"
				}
				t.Errorf("case %d %s (%s as %s) as %s:\n  gob%s: %v\n  firefly: %v", i, c.name, c.send, c.recv, dir, note, want, f)
			}
		}
	}
	if fails > 0 {
		t.Logf("%d of %d outcomes differ", fails, 2*len(cases))
	} else {
		t.Logf("%d cases, %d outcomes: all agree with gob or the documented extensions; cases where an extension differs from gob: %v", len(cases), 2*len(cases), exts)
	}
}

// indirectType is t with its pointers taken off, as gob takes them.
func indirectType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// isNilValue reports whether v travels as nil: a nil pointer, slice, map or
// interface (or an interface holding nil).
func isNilValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// inlineScalar reports whether values of t travel inline as scalars.
func inlineScalar(t reflect.Type) bool {
	switch t {
	case typ[bool](), typ[int](), typ[int32](), typ[int64](), typ[uint](), typ[uint32](), typ[uint64](),
		typ[float64](), typ[string](), typ[[]byte]():
		return true
	}
	return false
}

// gobEncodes reports whether plain gob can encode c's value as its sender
// type.
func gobEncodes(c diffCase) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var b bytes.Buffer
	return gob.NewEncoder(&b).EncodeValue(c.sendValue()) == nil
}

// expectedExtension returns the outcome firefly must have for c, given
// gob's g, and the name of the extension it follows where it differs from
// gob (see "Where firefly differs from gob" in README.md):
//
//   - nil: a nil pointer, slice, map or interface travels as nil and arrives
//     as the receiver's zero value (gob cannot encode a nil pointer at top
//     level and makes a nil map empty);
//   - scalar into interface: a built-in scalar sent as its own type fills an
//     interface-typed receiver as if it had been sent as that interface (gob
//     refuses a concrete value into an interface);
//   - interface into its type: a value sent as an interface fills a receiver
//     of its own concrete type, pointers aside, as if sent as that type (gob
//     refuses an interface value into a concrete type);
//   - types described first: the types held in interfaces are described
//     ahead of the value, and a receiver that skips such an interface skips
//     it (gob's Decoder fails to skip one whose value holds another
//     interface with its type described inside: "field numbers out of
//     bounds").
func expectedExtension(c diffCase, g diffOutcome) (diffOutcome, string) {
	if g.err != nil {
		if a := viaGobTypesFirst(c); a.err == nil {
			return a, "types described first"
		}
	}
	return expectedExtensionOf(c, g)
}

// viaGobTypesFirst is viaGob on a stream that describes the concrete types
// held in interfaces in c's value before the value, as firefly's sender
// does: a value of each is encoded, and skipped by the decoder, first.
func viaGobTypesFirst(c diffCase) (out diffOutcome) {
	defer func() {
		if p := recover(); p != nil {
			out = diffOutcome{err: fmt.Errorf("panic: %v", p)}
		}
	}()
	var b bytes.Buffer
	enc, dec := gob.NewEncoder(&b), gob.NewDecoder(&b)
	for _, t := range ifaceHeldTypes(c.sendValue(), nil, 0) {
		z := reflect.New(t).Elem()
		for p := z; p.Kind() == reflect.Pointer; p = p.Elem() {
			p.Set(reflect.New(p.Type().Elem()))
		}
		if enc.EncodeValue(z) != nil || dec.DecodeValue(reflect.Value{}) != nil {
			return diffOutcome{err: errors.New("a type held in an interface cannot be described")}
		}
	}
	if err := enc.EncodeValue(c.sendValue()); err != nil {
		return diffOutcome{err: err}
	}
	p := reflect.New(c.recv)
	if err := dec.DecodeValue(p); err != nil {
		return diffOutcome{err: err}
	}
	return diffOutcome{v: p.Elem()}
}

// ifaceHeldTypes appends to ts the concrete types of the interface values
// in v.
func ifaceHeldTypes(v reflect.Value, ts []reflect.Type, depth int) []reflect.Type {
	if depth > 20 {
		return ts
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			ts = append(ts, v.Elem().Type())
			ts = ifaceHeldTypes(v.Elem(), ts, depth+1)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			ts = ifaceHeldTypes(v.Elem(), ts, depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				ts = ifaceHeldTypes(v.Field(i), ts, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			ts = ifaceHeldTypes(v.Index(i), ts, depth+1)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			ts = ifaceHeldTypes(it.Key(), ts, depth+1)
			ts = ifaceHeldTypes(it.Value(), ts, depth+1)
		}
	}
	return ts
}

// expectedExtensionOf is expectedExtension for the other extensions.
func expectedExtensionOf(c diffCase, g diffOutcome) (diffOutcome, string) {
	if !c.val.IsValid() || isNilValue(c.val) {
		z := diffOutcome{v: reflect.Zero(c.recv)}
		if agree(g, z) {
			return g, ""
		}
		return z, "nil"
	}
	ri := indirectType(c.recv)
	if inlineScalar(c.send) && ri.Kind() == reflect.Interface {
		return viaGob(diffCase{send: ri, val: c.val, recv: c.recv}), "scalar into interface"
	}
	if c.send.Kind() == reflect.Interface && ri.Kind() != reflect.Interface && gobEncodes(c) {
		d := c.val.Elem()
		if indirectType(d.Type()) == ri {
			return viaGob(diffCase{send: d.Type(), val: d, recv: c.recv}), "interface into its type"
		}
	}
	return g, ""
}
