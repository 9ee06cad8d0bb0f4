package pb

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"
)

// fromGo converts a Go value into the Python value Jelly sends for it:
// strings as str (as bytes with py2Strings), integers as int, floats as
// float, []byte and byte arrays as bytes, slices and arrays as list, maps as
// dict (keys sorted, so the bytes on the wire are stable), Copyable structs
// as Instance, other structs as dict (fields as Copyable documents), nil
// pointers and interfaces as None, other pointers as what they point to.
// Values of the Python model (values.go) stay as they are. Channels,
// functions, complex numbers and pointer cycles are errors matching
// ErrUnsendable.
func fromGo(v reflect.Value, py2Strings bool) (any, error) {
	g := goConverter{py2: py2Strings}
	return g.value(v, 1)
}

// goConverter walks a Go value by reflection. When ref is set it asks
// ref.jellyRef for every value that is not a Python value or a plain scalar,
// and keeps the expression it returns as a rawSexp.
type goConverter struct {
	py2 bool
	ref jellyHooks
}

func (g *goConverter) str(s string) any {
	if g.py2 {
		return []byte(s)
	}
	return s
}

func (g *goConverter) value(v reflect.Value, depth int) (any, error) {
	if depth > jellyDepthLimit {
		return nil, fmt.Errorf("%w: nested deeper than %d (a pointer cycle?)", ErrUnsendable, jellyDepthLimit)
	}
	if !v.IsValid() {
		return nil, nil
	}
	if v.CanInterface() {
		switch x := v.Interface().(type) {
		case nil, bool, int64, float64, []byte, *big.Int, *Dict, *Instance, *Failure, Failure, *Unpersistable,
			time.Time, time.Duration:
			return x, nil
		case string:
			return g.str(x), nil
		case []any:
			return g.items(x, depth, func(s []any) any { return s })
		case Tuple:
			return g.items(x, depth, func(s []any) any { return Tuple(s) })
		case Set:
			return g.items(x, depth, func(s []any) any { return Set(s) })
		case FrozenSet:
			return g.items(x, depth, func(s []any) any { return FrozenSet(s) })
		}
		if g.ref != nil && askRef(v.Kind()) {
			sexp, ok, err := g.ref.jellyRef(v.Interface())
			if err != nil {
				return nil, err
			}
			if ok {
				return rawSexp{sexp}, nil
			}
		}
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := v.Uint(); u > math.MaxInt64 {
			return new(big.Int).SetUint64(u), nil
		} else {
			return int64(u), nil
		}
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	case reflect.String:
		return g.str(v.String()), nil
	case reflect.Slice:
		if v.IsNil() && t.Elem().Kind() != reflect.Uint8 {
			return []any{}, nil
		}
		fallthrough
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return b, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := g.value(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		return g.mapValue(v, depth)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return g.value(v.Elem(), depth+1)
	case reflect.Struct:
		return g.structValue(v, depth)
	}
	return nil, fmt.Errorf("%w: jelly has no form for %v", ErrUnsendable, t)
}

// askRef reports whether a value of kind k may be a reference for the broker
// to send: anything but a plain scalar or string.
func askRef(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return false
	}
	return true
}

func (g *goConverter) items(s []any, depth int, wrap func([]any) any) (any, error) {
	out := make([]any, len(s))
	for i, e := range s {
		pv, err := g.value(reflect.ValueOf(e), depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = pv
	}
	return wrap(out), nil
}

func (g *goConverter) mapValue(v reflect.Value, depth int) (any, error) {
	d := &Dict{Items: make([]DictItem, 0, v.Len())}
	type entry struct{ k, v reflect.Value }
	entries := make([]entry, 0, v.Len())
	iter := v.MapRange()
	for iter.Next() {
		entries = append(entries, entry{k: iter.Key(), v: iter.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return compareKeys(a.k, b.k) })
	for _, e := range entries {
		k, err := g.value(e.k, depth+1)
		if err != nil {
			return nil, err
		}
		val, err := g.value(e.v, depth+1)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, DictItem{Key: k, Value: val})
	}
	return d, nil
}

// compareKeys orders map keys: numbers numerically, strings by bytes,
// anything else by its printed form.
func compareKeys(a, b reflect.Value) int {
	for a.Kind() == reflect.Interface && !a.IsNil() {
		a = a.Elem()
	}
	for b.Kind() == reflect.Interface && !b.IsNil() {
		b = b.Elem()
	}
	if a.Kind() == b.Kind() {
		switch a.Kind() {
		case reflect.String:
			return strings.Compare(a.String(), b.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return cmp.Compare(a.Int(), b.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return cmp.Compare(a.Uint(), b.Uint())
		case reflect.Float32, reflect.Float64:
			return cmp.Compare(a.Float(), b.Float())
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func (g *goConverter) structValue(v reflect.Value, depth int) (any, error) {
	t := v.Type()
	fields := structFields(t)
	d := &Dict{Items: make([]DictItem, 0, len(fields))}
	for _, f := range fields {
		fv, err := v.FieldByIndexErr(f.index)
		if err != nil { // behind a nil embedded pointer
			continue
		}
		pv, err := g.value(fv, depth+2)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, DictItem{Key: g.str(f.name), Value: pv})
	}
	if class := copyableClass(t); class != "" {
		return &Instance{Class: class, State: d}, nil
	}
	return d, nil
}
