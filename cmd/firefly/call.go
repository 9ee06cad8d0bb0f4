package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// The client subcommands, like grpcurl for firefly, need a server that
// enabled introspection (rpc.WithIntrospection; a cluster run with
// -introspect):
//
//	firefly methods -addr host:port                 the root object's methods
//	firefly call -addr host:port -method add -args '[1,2]'
//	firefly methods -config c.json -server gate -targets
//	                                                gate's service targets
//	firefly call -config c.json -server gate -target forward -args '["game1", {"Player": "bob"}]'
//	                                                one of them, as a node would

// methods dials the server and lists the methods of its root object, or
// with service the targets of its root's service.
func (d *dialFlags) methods(ctx context.Context, service bool) (*target, []rpc.MethodInfo, error) {
	tg, err := d.open(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	ms, err := tg.ref.Methods(ctx)
	if err != nil {
		tg.close()
		return nil, nil, fmt.Errorf("listing methods (does the server enable introspection?): %w", err)
	}
	return tg, ms, nil
}

// methodsCommand prints one line per method of the server's root object.
func methodsCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("methods")
	var d dialFlags
	d.register(fs)
	targets := fs.Bool("targets", false, "list the targets of the root's service (reached as a node, see -name), not the root object's methods")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	tg, ms, err := d.methods(ctx, *targets)
	if err != nil {
		return err
	}
	defer tg.close()
	for _, m := range ms {
		fmt.Fprintln(out, m.Signature)
	}
	return nil
}

// callCommand calls one method with arguments given as a JSON array, turned
// into the method's parameter types through introspection, and prints the
// result as JSON.
func callCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("call")
	var d dialFlags
	d.register(fs)
	method := fs.String("method", "", "a method of the root object, e.g. add or Add")
	targetName := fs.String("target", "", "a target of the root's service instead, by name or command id (as a node's callRemote), reached as a node (see -name)")
	jsonArgs := fs.String("args", "[]", "arguments as a JSON array")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*method == "") == (*targetName == "") {
		return &usageError{"one of -method and -target is required"}
	}
	service := *targetName != ""
	if service {
		*method = *targetName
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(*jsonArgs), &raw); err != nil {
		return &usageError{fmt.Sprintf("-args must be a JSON array: %v", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	tg, ms, err := d.methods(ctx, service)
	if err != nil {
		return err
	}
	defer tg.close()
	var m *rpc.MethodInfo
	for i := range ms {
		if ms[i].Name == registry.Canonical(*method) {
			m = &ms[i]
		}
	}
	if m == nil {
		return fmt.Errorf("%w: %q", rpc.ErrNoSuchMethod, *method)
	}
	variadic := len(m.Params) > 0 && strings.HasPrefix(m.Params[len(m.Params)-1], "...")
	if (!variadic && len(raw) != len(m.ParamTypes)) || (variadic && len(raw) < len(m.ParamTypes)-1) {
		return &usageError{fmt.Sprintf("%s takes %d arguments (%s), got %d", m.Name, len(m.Params), strings.Join(m.Params, ", "), len(raw))}
	}
	callArgs := make([]any, len(raw))
	for i, r := range raw {
		ti := m.ParamTypes[min(i, len(m.ParamTypes)-1)]
		v, err := fromJSON(r, ti)
		if err != nil {
			return fmt.Errorf("argument %d is not a %s: %w", i+1, ti.Name, err)
		}
		callArgs[i] = v
	}
	var reply reflect.Value
	var replyPtr any
	if m.ResultType != nil {
		t, err := resultType(*m.ResultType)
		if err != nil {
			return fmt.Errorf("result: %w", err)
		}
		reply = reflect.New(t)
		replyPtr = reply.Interface()
	}
	if err := tg.ref.Call(ctx, m.Name, replyPtr, callArgs...); err != nil {
		return err
	}
	var result any
	if reply.IsValid() {
		result = reply.Elem().Interface()
		if r, ok := result.(*rpc.Ref); ok && r != nil {
			result = r.String()
			r.Release()
		}
	}
	// As JSON, with <, > and & as they are (this is no HTML).
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(result); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return nil
}

// fromJSON turns one JSON argument into a value for a parameter of type ti.
// Fields of structs are matched by name (as gob matches them), and a field
// the parameter's type lacks is an error naming it. An interface parameter
// takes a number (an int when it has no fraction, else a float64), a
// string, a bool or null.
func fromJSON(r json.RawMessage, ti rpc.TypeInfo) (any, error) {
	switch ti.Kind {
	case "interface":
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, err
		}
		switch v := x.(type) {
		case json.Number:
			if n, err := v.Int64(); err == nil {
				return int(n), nil
			}
			return v.Float64()
		case string, bool, nil:
			return v, nil
		}
		return nil, errors.New("an interface parameter takes a number, a string, a bool or null")
	case "ref":
		return nil, errors.New("a reference cannot be given on the command line")
	}
	t, err := typeOf(ti)
	if err != nil {
		return nil, err
	}
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

// resultType is the type a result described by ti is read into: any for an
// interface, a *rpc.Ref for a reference, else as typeOf builds it.
func resultType(ti rpc.TypeInfo) (reflect.Type, error) {
	switch ti.Kind {
	case "interface":
		return reflect.TypeFor[any](), nil
	case "ref":
		return reflect.TypeFor[*rpc.Ref](), nil
	}
	return typeOf(ti)
}

// basicTypes are the Go types of the basic kinds.
var basicTypes = map[string]reflect.Type{
	"bool": reflect.TypeFor[bool](), "string": reflect.TypeFor[string](),
	"int": reflect.TypeFor[int](), "int8": reflect.TypeFor[int8](), "int16": reflect.TypeFor[int16](),
	"int32": reflect.TypeFor[int32](), "int64": reflect.TypeFor[int64](),
	"uint": reflect.TypeFor[uint](), "uint8": reflect.TypeFor[uint8](), "uint16": reflect.TypeFor[uint16](),
	"uint32": reflect.TypeFor[uint32](), "uint64": reflect.TypeFor[uint64](), "uintptr": reflect.TypeFor[uintptr](),
	"float32": reflect.TypeFor[float32](), "float64": reflect.TypeFor[float64](),
	"complex64": reflect.TypeFor[complex64](), "complex128": reflect.TypeFor[complex128](),
}

// knownTypes are the types that encode themselves the command line knows:
// their values are given and printed as their JSON forms (time.Time as RFC
// 3339).
var knownTypes = map[string]reflect.Type{
	"time.Time": reflect.TypeFor[time.Time](),
}

// typeOf builds a Go type with ti's structure: gob matches struct fields by
// name and follows pointers, so a value of it decodes into the server's own
// type, and one of the server's type into it.
func typeOf(ti rpc.TypeInfo) (reflect.Type, error) {
	if t, ok := knownTypes[ti.Name]; ok {
		return t, nil
	}
	if t, ok := basicTypes[ti.Kind]; ok {
		return t, nil
	}
	switch ti.Kind {
	case "slice", "array", "map":
		if ti.Elem == nil {
			return nil, fmt.Errorf("%s %s has no element type", ti.Kind, ti.Name)
		}
		e, err := typeOf(*ti.Elem)
		if err != nil {
			return nil, err
		}
		switch ti.Kind {
		case "slice":
			return reflect.SliceOf(e), nil
		case "array":
			return reflect.ArrayOf(ti.Len, e), nil
		}
		if ti.Key == nil {
			return nil, fmt.Errorf("map %s has no key type", ti.Name)
		}
		k, err := typeOf(*ti.Key)
		if err != nil {
			return nil, err
		}
		return reflect.MapOf(k, e), nil
	case "struct":
		if len(ti.Fields) == 0 && ti.Name != "struct {}" {
			return nil, fmt.Errorf("a %s encodes itself and cannot be given or read on the command line", ti.Name)
		}
		fields := make([]reflect.StructField, 0, len(ti.Fields))
		for _, f := range ti.Fields {
			ft, err := typeOf(f.Type)
			if err != nil {
				return nil, err
			}
			fields = append(fields, reflect.StructField{Name: f.Name, Type: ft, Tag: reflect.StructTag(fmt.Sprintf(`json:%q`, f.Name))})
		}
		return reflect.StructOf(fields), nil
	case "interface":
		return reflect.TypeFor[any](), nil
	}
	return nil, fmt.Errorf("a %s (%s) cannot be given on the command line", ti.Kind, ti.Name)
}
