package pb

import (
	"fmt"
	"math/big"
	"unicode/utf8"
)

// unjelly turns the jelly expression sexp, as bananaDecoder produced it, into
// a Python value. lim.maxDepth bounds the recursion. Every malformed
// expression is a *JellyError; an error from a hook is returned as it is.
func unjelly(sexp any, h jellyHooks, lim bananaLimits) (any, error) {
	u := unjellier{h: h, maxDepth: lim.maxDepth}
	return u.value(sexp, 0, nil)
}

type unjellier struct {
	h        jellyHooks
	maxDepth int
	refs     map[int64]any
}

// value unjellies sexp. When ref is not nil, sexp is the body of ['reference',
// *ref, sexp]: a container registers itself under *ref as soon as it exists,
// before its elements, so that a dereference inside it (a cycle) finds it.
func (u *unjellier) value(sexp any, depth int, ref *int64) (any, error) {
	switch v := sexp.(type) {
	case int64, *big.Int, float64, []byte:
		return v, nil
	case []any:
		if depth >= u.maxDepth {
			return nil, jellyErrorf("nested deeper than %d", u.maxDepth)
		}
		return u.tagged(v, depth+1, ref)
	}
	return nil, jellyErrorf("%T is not a jelly expression", sexp)
}

func (u *unjellier) register(ref *int64, v any) {
	if ref == nil {
		return
	}
	if u.refs == nil {
		u.refs = make(map[int64]any)
	}
	u.refs[*ref] = v
}

func (u *unjellier) tagged(l []any, depth int, ref *int64) (any, error) {
	if len(l) == 0 {
		return nil, jellyErrorf("empty list where a tagged value belongs")
	}
	tag, ok := l[0].([]byte)
	if !ok {
		return nil, jellyErrorf("list tagged with a %s", bananaKind(l[0]))
	}
	args := l[1:]
	switch string(tag) {
	case tagNone:
		if len(args) != 0 {
			return nil, jellyErrorf("['None'] with %d arguments", len(args))
		}
		return nil, nil
	case tagUnicode:
		b, err := oneBytes(tag, args)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, jellyErrorf("unicode value is not valid UTF-8")
		}
		return string(b), nil
	case tagBoolean:
		b, err := oneBytes(tag, args)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, jellyErrorf("boolean %q", b)
	case tagList:
		out := make([]any, len(args))
		if ref != nil {
			u.register(ref, out)
		}
		return out, u.fill(out, args, depth)
	case tagTuple:
		out := make(Tuple, len(args))
		if ref != nil {
			u.register(ref, out)
		}
		return out, u.fill(out, args, depth)
	case tagSet, tagFrozenSet:
		out := make([]any, len(args))
		if err := u.fill(out, args, depth); err != nil {
			return nil, err
		}
		if string(tag) == tagSet {
			return Set(out), nil
		}
		return FrozenSet(out), nil
	case tagDictionary:
		d := &Dict{}
		u.register(ref, d)
		return d, u.fillDict(d, args, depth)
	case tagReference:
		if len(args) != 2 {
			return nil, jellyErrorf("reference with %d arguments", len(args))
		}
		id, ok := args[0].(int64)
		if !ok {
			return nil, jellyErrorf("reference id is a %s", bananaKind(args[0]))
		}
		if _, dup := u.refs[id]; dup {
			return nil, jellyErrorf("reference id %d used twice", id)
		}
		v, err := u.value(args[1], depth, &id)
		if err != nil {
			return nil, err
		}
		if _, done := u.refs[id]; !done {
			u.register(&id, v)
		}
		return v, nil
	case tagDereference:
		if len(args) != 1 {
			return nil, jellyErrorf("dereference with %d arguments", len(args))
		}
		id, ok := args[0].(int64)
		if !ok {
			return nil, jellyErrorf("dereference id is a %s", bananaKind(args[0]))
		}
		v, ok := u.refs[id]
		if !ok {
			return nil, jellyErrorf("dereference of unknown id %d", id)
		}
		return v, nil
	case tagUnpersistable:
		b, err := oneBytes(tag, args)
		if err != nil {
			return nil, err
		}
		return &Unpersistable{Reason: string(b)}, nil
	case tagRemote, tagLocal:
		if len(args) != 1 {
			return nil, jellyErrorf("%s with %d arguments", tag, len(args))
		}
		if u.h == nil {
			return nil, jellyErrorf("%s reference outside a broker", tag)
		}
		id, ok := args[0].(int64)
		if string(tag) == tagLocal {
			if b, isBytes := args[0].([]byte); isBytes && string(b) == "root" {
				return u.h.unjellyLocal(0)
			}
			if !ok {
				return nil, jellyErrorf("local reference id is a %s", bananaKind(args[0]))
			}
			return u.h.unjellyLocal(id)
		}
		if !ok {
			return nil, jellyErrorf("remote reference id is a %s", bananaKind(args[0]))
		}
		return u.h.unjellyRemote(id)
	case tagDatetime, tagDate:
		return unjellyDatetime(tag, args)
	case tagTimedelta:
		return unjellyTimedelta(tag, args)
	case tagCached:
		if len(args) != 1 {
			return nil, jellyErrorf("cached with %d arguments", len(args))
		}
		id, ok := args[0].(int64)
		if !ok {
			return nil, jellyErrorf("cached id is a %s", bananaKind(args[0]))
		}
		ch, ok := u.h.(jellyCacheHooks)
		if !ok {
			return nil, jellyErrorf("Cacheable %d not supported", id)
		}
		return ch.unjellyCache(id, "", nil)
	case tagFailure:
		if len(args) != 1 {
			return nil, jellyErrorf("CopyableFailure with %d arguments", len(args))
		}
		state, err := u.state(args[0], depth)
		if err != nil {
			return nil, err
		}
		f := failureFromState(state)
		u.register(ref, f)
		return f, nil
	}
	if !isClassName(tag) {
		return nil, jellyErrorf("tag %q not allowed", tag)
	}
	switch len(args) {
	case 1:
		inst := &Instance{Class: string(tag)}
		u.register(ref, inst)
		state, err := u.state(args[0], depth)
		if err != nil {
			return nil, err
		}
		inst.State = state
		return inst, nil
	case 2:
		if id, ok := args[0].(int64); ok {
			ch, ok := u.h.(jellyCacheHooks)
			if !ok {
				return nil, jellyErrorf("Cacheable %s not supported", tag)
			}
			state, err := u.value(args[1], depth, nil)
			if err != nil {
				return nil, err
			}
			return ch.unjellyCache(id, string(tag), state)
		}
	}
	return nil, jellyErrorf("%s with %d arguments", tag, len(args))
}

// isClassName reports whether tag can be a Copyable class name, as a
// sender's getTypeToCopyFor gives it (by default "module.Class"): printable
// ASCII without spaces, brackets or quotes, and neither a word of the pb
// vocabulary (class, function, module, instance, persistent, copy, …) nor a
// value tag of Twisted's own (unicode, boolean, set, datetime, …).
func isClassName(tag []byte) bool {
	if len(tag) == 0 || vocabIndex(string(tag)) != 0 {
		return false
	}
	switch string(tag) {
	case tagUnicode, tagBoolean, tagSet, tagFrozenSet, "method", "datetime", "date", "time", "timedelta", "decimal":
		return false
	}
	for _, c := range tag {
		if c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\'' || c == '"' {
			return false
		}
	}
	return true
}

func oneBytes(tag []byte, args []any) ([]byte, error) {
	if len(args) != 1 {
		return nil, jellyErrorf("%s with %d arguments", tag, len(args))
	}
	b, ok := args[0].([]byte)
	if !ok {
		return nil, jellyErrorf("%s of a %s", tag, bananaKind(args[0]))
	}
	return b, nil
}

func (u *unjellier) fill(out []any, args []any, depth int) error {
	for i, a := range args {
		v, err := u.value(a, depth, nil)
		if err != nil {
			return err
		}
		out[i] = v
	}
	return nil
}

func (u *unjellier) fillDict(d *Dict, args []any, depth int) error {
	if depth >= u.maxDepth && len(args) > 0 {
		return jellyErrorf("nested deeper than %d", u.maxDepth)
	}
	d.Items = make([]DictItem, len(args))
	for i, a := range args {
		pair, ok := a.([]any)
		if !ok || len(pair) != 2 {
			return jellyErrorf("dictionary item is not a [key, value] pair")
		}
		k, err := u.value(pair[0], depth+1, nil)
		if err != nil {
			return err
		}
		v, err := u.value(pair[1], depth+1, nil)
		if err != nil {
			return err
		}
		d.Items[i] = DictItem{Key: k, Value: v}
	}
	return nil
}

// state unjellies a Copyable's state, which must be a dictionary.
func (u *unjellier) state(sexp any, depth int) (*Dict, error) {
	v, err := u.value(sexp, depth, nil)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, jellyErrorf("Copyable state is a %s, not a dictionary", pythonType(v))
	}
	return d, nil
}

// failureFromState reads a CopyableFailure's state, whose fields may be bytes
// (Python 2) or unicode (Python 3) and may be missing.
func failureFromState(state *Dict) *Failure {
	f := &Failure{}
	str := func(name string) string {
		v, _ := state.Get(name, true)
		switch v := v.(type) {
		case nil:
			return ""
		case string:
			return v
		case []byte:
			return string(v)
		case int64, *big.Int, float64, bool:
			return fmt.Sprint(v)
		}
		// Never print a container: the peer may have made it cyclic, or
		// exponential through shared references.
		return "<" + pythonType(v) + ">"
	}
	f.Type = str("type")
	f.Value = str("value")
	f.Traceback = str("traceback")
	if ps, ok := state.Get("parents", true); ok {
		var list []any
		switch ps := ps.(type) {
		case []any:
			list = ps
		case Tuple:
			list = ps
		}
		for _, p := range list {
			switch p := p.(type) {
			case string:
				f.Parents = append(f.Parents, p)
			case []byte:
				f.Parents = append(f.Parents, string(p))
			}
		}
	}
	return f
}
