package rpc

import (
	"fmt"
	"reflect"

	"github.com/fireflyrpc/firefly/registry"
)

// LocalArgs converts Go arguments into m's parameters for a call in this
// process, as a *Ref to a local object converts them: each argument must be
// assignable to its parameter (nil is the zero value), and the count must
// fit, else the error matches ErrBadArguments. A layer that dispatches to
// registry methods itself (package distributed's Service) uses it.
func LocalArgs(m *registry.Method, args []any) ([]reflect.Value, error) {
	n := len(m.Params)
	if (!m.Variadic && len(args) != n) || (m.Variadic && len(args) < n-1) {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArguments, m.Name, n, len(args))
	}
	in := make([]reflect.Value, n)
	var rest reflect.Value
	if m.Variadic {
		rest = reflect.MakeSlice(m.Params[n-1], 0, len(args)-(n-1))
	}
	for i, a := range args {
		pt := m.ArgType(i)
		var v reflect.Value
		if a == nil {
			v = reflect.Zero(pt)
		} else {
			v = reflect.ValueOf(a)
			if !v.Type().AssignableTo(pt) {
				return nil, fmt.Errorf("%w: argument %d of %s: %s is not %s", ErrBadArguments, i+1, m.Name, v.Type(), pt)
			}
		}
		if m.Variadic && i >= n-1 {
			rest = reflect.Append(rest, v)
		} else {
			in[i] = v
		}
	}
	if m.Variadic {
		in[n-1] = rest
	}
	return in, nil
}

// SetReply stores a call's result v (invalid: the zero value) in reply, a
// non-nil pointer to a type v is assignable to, as Ref.Call stores its
// result; a nil reply discards v. Other replies get an error matching
// ErrBadReply.
func SetReply(reply any, v reflect.Value) error {
	if reply == nil {
		return nil
	}
	dst, err := replyVar(reply)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	if !v.IsValid() {
		dst.SetZero()
		return nil
	}
	if !v.Type().AssignableTo(dst.Type()) {
		return fmt.Errorf("%w: a %s cannot be stored in %T", ErrBadReply, v.Type(), reply)
	}
	dst.Set(v)
	return nil
}

// replyVar returns the variable reply points to, or an error when reply is
// not a non-nil pointer.
func replyVar(reply any) (reflect.Value, error) {
	rv := reflect.ValueOf(reply)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return reflect.Value{}, fmt.Errorf("reply must be a non-nil pointer, not %T", reply)
	}
	return rv.Elem(), nil
}
