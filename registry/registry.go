package registry

import (
	"fmt"
	"reflect"
	"sync"
)

// Options configure a [Registry].
type Options struct {
	// Special reports types the caller (the rpc broker) carries itself
	// instead of gob, e.g. *rpc.Ref and types that embed rpc.Referenceable.
	// A Special type is accepted as a whole parameter or result even though
	// gob could not carry it. A Special type nested inside a parameter or
	// result type (struct field, slice or array element, map key or value,
	// pointer target) is a registration error. Nil means no type is special.
	// It is called only while a type is registered, never on a call.
	Special func(t reflect.Type) bool
}

// Registry builds and caches the method tables of the types it is given. It
// is safe for concurrent use; each Go type is examined once.
type Registry struct {
	opts  Options
	cache sync.Map  // reflect.Type -> *table
	boxes sync.Pool // *context.Context, for calls of methods that take a context
}

// New returns a Registry with the given options.
func New(opts Options) *Registry {
	r := &Registry{opts: opts}
	r.boxes.New = newCtxBox
	return r
}

// Object returns v with the table of its remotely callable methods: the
// exported methods in v's method set named "Remote" + Name, where Name starts
// with an upper-case letter. Pass a pointer to include pointer-receiver
// methods. Methods promoted from embedded fields count like declared ones.
//
// The table is built on the first call for v's type and reused after, as is
// a registration error. The error is a *[RegistrationError], or several
// joined with errors.Join when several methods are bad. A nil v or a nil
// pointer is an error.
func (r *Registry) Object(v any) (*Object, error) {
	if v == nil {
		return nil, &RegistrationError{Reason: "nil value (a nil interface) cannot be registered"}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, &RegistrationError{Type: rv.Type().String(), Reason: "nil pointer cannot be registered"}
	}
	tab := r.table(rv.Type())
	if tab.err != nil {
		return nil, tab.err
	}
	return &Object{recv: rv, tab: tab}, nil
}

// Func returns fn, a function, as a Method exposed under Canonical(name). The
// name must be a Go identifier starting with a letter (lower or upper case);
// fn must have a shape a remote method may have. Func caches nothing.
func (r *Registry) Func(name string, fn any) (*Method, error) {
	if reason := validFuncName(name); reason != "" {
		return nil, &RegistrationError{Method: name, Reason: reason}
	}
	fv := reflect.ValueOf(fn)
	if fv.Kind() != reflect.Func {
		return nil, &RegistrationError{Method: name, Reason: fmt.Sprintf("%T is not a function", fn)}
	}
	if fv.IsNil() {
		return nil, &RegistrationError{Method: name, Reason: "nil function"}
	}
	m, reasons := newMethod(Canonical(name), name, fv, fv.Type(), 0, r.opts.Special, &r.boxes)
	if reasons != nil {
		return nil, &RegistrationError{Method: name, Reason: joinReasons(reasons)}
	}
	return m, nil
}

// table returns the cached table of t, building it on first use.
func (r *Registry) table(t reflect.Type) *table {
	if tab, ok := r.cache.Load(t); ok {
		return tab.(*table)
	}
	tab, _ := r.cache.LoadOrStore(t, r.build(t))
	return tab.(*table)
}

// build examines t's method set. Go lists methods sorted by name, so errors
// come out in a stable order.
func (r *Registry) build(t reflect.Type) *table {
	tab := &table{byName: make(map[string]*Method)}
	var errs []error
	owner := make(map[string]*Method) // lookup key -> method that claimed it
	for i := range t.NumMethod() {
		gm := t.Method(i)
		name, ok := exposedName(gm.Name)
		if !ok {
			continue
		}
		fail := func(reason string) {
			errs = append(errs, &RegistrationError{Type: t.String(), Method: gm.Name, Reason: reason})
		}
		if reason := caseStable(name); reason != "" {
			fail(reason)
		}
		m, reasons := newMethod(name, gm.Name, gm.Func, gm.Type, 1, r.opts.Special, &r.boxes)
		if reasons != nil {
			fail(joinReasons(reasons))
			continue
		}
		m.owner = tab
		for _, key := range []string{name, lowerCamel(name)} {
			if prev := owner[key]; prev != nil && prev != m {
				fail(fmt.Sprintf("exposed name %q collides with %q of %s: both answer to %q", name, prev.Name, prev.goName, key))
				continue
			}
			owner[key] = m
		}
		tab.byName[name] = m
		tab.byName[lowerCamel(name)] = m
		tab.methods = append(tab.methods, m)
	}
	if len(errs) > 0 {
		return &table{err: joinErrors(errs)}
	}
	sortMethods(tab.methods)
	return tab
}
