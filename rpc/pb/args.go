package pb

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// Kwargs are a PB call's keyword arguments, in Go.
//
// Calling Python: a Kwargs as the last argument of Ref.Call, Go or Send is
// sent as the keyword arguments (root.Call(ctx, "greet", &s, "Bob",
// pb.Kwargs{"greeting": "hi"}) is Python's root.callRemote("greet", "Bob",
// greeting="hi")).
//
// Called from Python: a method with a parameter of type Kwargs receives the
// call's keyword arguments there (that parameter is not filled from the
// positional ones); a method without one refuses a call with keyword
// arguments (a TypeError for the Python caller). Values arrive as the Python
// model types (see the package documentation).
type Kwargs map[string]any

var (
	kwargsType = reflect.TypeFor[Kwargs]()
	refType    = reflect.TypeFor[*rpc.Ref]()
)

// hooks connects jelly to this connection's reference tables, for one
// serialization: it counts what it exported (so a command that cannot be
// sent gives them back) and what it imported (so a call nobody will run
// releases them at once).
type hooks struct {
	c        *Conn
	exported []int64
	imported []*rpc.Ref
}

func (h *hooks) unjellyRemote(id int64) (any, error) {
	r := h.c.importRef(id)
	h.imported = append(h.imported, r)
	return r, nil
}

func (h *hooks) unjellyLocal(id int64) (any, error) {
	if id == 0 && h.c.root != nil { // ['local', 'root']
		return h.c.root.val, nil
	}
	t := h.c.exports.Get(id)
	if t == nil {
		return nil, fmt.Errorf("%w: ['local', %d] names an object this side does not export", rpc.ErrNoSuchObject, id)
	}
	return t.val, nil
}

// jellyRef jellies the values that go by reference: a *rpc.Ref of this
// connection goes home as ['local', id]; an object embedding
// rpc.Referenceable (or a *rpc.Ref bound to a local object) is exported as
// ['remote', luid].
func (h *hooks) jellyRef(v any) (any, bool, error) {
	if r, ok := v.(*rpc.Ref); ok {
		if r == nil {
			return []any{[]byte("None")}, true, nil
		}
		switch x := r.Remote().(type) {
		case *remoteRef:
			if x.c != h.c {
				return nil, false, rpc.ErrForeignReference
			}
			if x.released.Load() {
				return nil, false, rpc.ErrReleased
			}
			return []any{[]byte("local"), x.objectID()}, true, nil
		case *localRemote:
			return h.export(x.t.val)
		}
		return nil, false, rpc.ErrForeignReference
	}
	if v != nil && rpc.PassedByReference(reflect.TypeOf(v)) {
		return h.export(v)
	}
	return nil, false, nil
}

func (h *hooks) export(v any) (any, bool, error) {
	if h.c.root != nil && v == h.c.root.val {
		return nil, false, fmt.Errorf("%w: the root object is reached as 'root', not passed", rpc.ErrNotReferenceable)
	}
	id, err := h.c.export(v)
	if err != nil {
		return nil, false, err
	}
	h.exported = append(h.exported, id)
	return []any{[]byte("remote"), id}, true, nil
}

// readerHooks returns the reading goroutine's hooks record, for the command
// it is reading: commands are read one at a time, and the record is cleared
// once its command is handled (nothing keeps it past that).
func (c *Conn) readerHooks() *hooks {
	h := &c.rhooks
	h.c = c
	return h
}

// clear empties h for its next use, keeping its slices' room.
func (h *hooks) clear() {
	clear(h.exported)
	clear(h.imported)
	h.exported, h.imported = h.exported[:0], h.imported[:0]
}

// exportedIDs is what h exported; none for a nil h.
func (h *hooks) exportedIDs() []int64 {
	if h == nil {
		return nil
	}
	return h.exported
}

// undoExports takes back the transmissions of a command that was not sent
// (nothing for a nil h).
func (h *hooks) undoExports() {
	if h == nil {
		return
	}
	for _, id := range h.exported {
		h.c.exports.Release(id, 1)
	}
	h.exported = nil
}

// releaseAll releases the references unjellied for a command nobody uses.
func (h *hooks) releaseAll() {
	for _, r := range h.imported {
		r.Release()
	}
	h.imported = nil
}

// toPython prepares a Go value for jelly, which takes Go values as they
// are: jellyRef sends references, reflection (fromGo) the rest. A nil
// interface or pointer is None.
func (c *Conn) toPython(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil
		}
	}
	if k, ok := v.Interface().(Kwargs); ok {
		return c.kwargsDict(k)
	}
	return v.Interface(), nil
}

// kwargsDict is kw as a Python dict with str keys, in sorted key order.
func (c *Conn) kwargsDict(kw Kwargs) (*Dict, error) {
	d := &Dict{}
	keys := make([]string, 0, len(kw))
	for k := range kw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := c.toPython(reflect.ValueOf(kw[k]))
		if err != nil {
			return nil, fmt.Errorf("%w: keyword argument %s: %w", rpc.ErrBadArguments, k, err)
		}
		var key any = k
		if c.opts.py2Strings {
			key = []byte(k)
		}
		d.Items = append(d.Items, DictItem{Key: key, Value: v})
	}
	return d, nil
}

// goValue converts an unjellied value into a Go value of type t: references
// are resolved here (a local object that came home, for a *rpc.Ref, is bound
// into one); the rest go through convertTo.
func (c *Conn) goValue(v any, t reflect.Type) (reflect.Value, error) {
	if t == refType {
		switch x := v.(type) {
		case nil:
			return reflect.Zero(t), nil
		case *rpc.Ref:
			return reflect.ValueOf(x), nil
		}
		if tg := c.exports.Of(v); tg != nil {
			return reflect.ValueOf(rpc.NewRemoteRef(&localRemote{c: c, t: tg})), nil
		}
		return reflect.Value{}, fmt.Errorf("a %T is not a reference", v)
	}
	if v != nil {
		if vt := reflect.TypeOf(v); rpc.PassedByReference(vt) {
			if vt.AssignableTo(t) {
				return reflect.ValueOf(v), nil
			}
			return reflect.Value{}, fmt.Errorf("a reference (%s) cannot be a %s", vt, t)
		}
	}
	return convertTo(v, t)
}

// params converts a message's arguments into m's parameters.
func (c *Conn) params(m *registry.Method, args []any, kw *Dict) ([]reflect.Value, error) {
	in := make([]reflect.Value, len(m.Params))
	kwAt := slices.Index(m.Params, kwargsType)
	if kwAt >= 0 {
		k, err := kwargsOf(kw)
		if err != nil {
			return nil, err
		}
		in[kwAt] = reflect.ValueOf(k)
	} else if kw != nil && len(kw.Items) > 0 {
		return nil, fmt.Errorf("%w: %s takes no keyword arguments (got %d)", rpc.ErrBadArguments, m.Name, len(kw.Items))
	}
	// slot is the parameter of positional argument i: every parameter but
	// the Kwargs one, in order.
	slot := func(i int) int {
		if kwAt >= 0 && i >= kwAt {
			return i + 1
		}
		return i
	}
	fixed := len(m.Params)
	if kwAt >= 0 {
		fixed--
	}
	if m.Variadic {
		fixed--
	}
	if len(args) < fixed || (!m.Variadic && len(args) > fixed) {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", rpc.ErrBadArguments, m.Name, fixed, len(args))
	}
	for i := range fixed {
		v, err := c.goValue(args[i], m.Params[slot(i)])
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d of %s: %w", rpc.ErrBadArguments, i+1, m.Name, err)
		}
		in[slot(i)] = v
	}
	if m.Variadic {
		st := m.Params[len(m.Params)-1]
		rest := reflect.MakeSlice(st, 0, len(args)-fixed)
		for i := fixed; i < len(args); i++ {
			v, err := c.goValue(args[i], st.Elem())
			if err != nil {
				return nil, fmt.Errorf("%w: argument %d of %s: %w", rpc.ErrBadArguments, i+1, m.Name, err)
			}
			rest = reflect.Append(rest, v)
		}
		in[len(m.Params)-1] = rest
	}
	return in, nil
}

// kwargsOf turns an unjellied kw dictionary into Kwargs: keys must be str or
// bytes (Python 2 peers send bytes keys).
func kwargsOf(d *Dict) (Kwargs, error) {
	k := Kwargs{}
	if d == nil {
		return k, nil
	}
	for _, it := range d.Items {
		switch key := it.Key.(type) {
		case string:
			k[key] = it.Value
		case []byte:
			k[string(key)] = it.Value
		default:
			return nil, fmt.Errorf("%w: a keyword argument's name is a %T", rpc.ErrBadArguments, it.Key)
		}
	}
	return k, nil
}

// setReply stores an answer's value in the caller's reply.
func (c *Conn) setReply(reply any, v any) error {
	if reply == nil {
		return nil
	}
	rv := reflect.ValueOf(reply)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: reply must be a non-nil pointer, not %T", rpc.ErrBadReply, reply)
	}
	x, err := c.goValue(v, rv.Elem().Type())
	if err != nil {
		return fmt.Errorf("%w: %w", rpc.ErrBadReply, err)
	}
	rv.Elem().Set(x)
	return nil
}

// remoteErrorFrom turns the value of an error command into the caller's
// error: a CopyableFailure of any profile, some other exception sent as a
// Copyable, or an arbitrary value.
func remoteErrorFrom(v any) error {
	switch f := v.(type) {
	case *Failure:
		return newRemoteError(f.Type, f.Value, f.Traceback, f.Parents)
	case *Instance:
		return newRemoteError(f.Class, fmt.Sprint(f.State), "", nil)
	}
	return newRemoteError(pyException, fmt.Sprint(v), "", nil)
}
