package pb

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// JellyError reports a jelly expression that is not a valid value: an unknown
// or forbidden tag, a malformed tagged list, a dereference of an unknown id.
// It matches ErrProtocol.
type JellyError struct {
	Reason string
}

// Error returns the reason, prefixed with the package and layer.
func (e *JellyError) Error() string { return "pb: jelly: " + e.Reason }

// Unwrap makes a *JellyError match ErrProtocol.
func (e *JellyError) Unwrap() error { return ErrProtocol }

func jellyErrorf(format string, args ...any) error {
	return &JellyError{Reason: fmt.Sprintf(format, args...)}
}

// jellyHooks connects Jelly to a broker's references.
//
// On the wire a reference is a tagged list with an id:
//
//	['remote', luid]   the sender's own object, passed by reference; luid is
//	                   an int the sender allocated (1, 2, …) and counts one
//	                   transmission (the receiver owes one ['decref', luid]).
//	['local', luid]    one of the receiver's own objects coming home: the
//	                   luid the receiver gave it in an earlier 'remote'. The
//	                   receiver's root, known to the peer as 'root' and not as
//	                   an int, comes home as ['local', 'root'].
//
// unjelly calls unjellyRemote for ['remote', n] and unjellyLocal for
// ['local', n]; ['local', 'root'] calls unjellyLocal(0) (luids start at 1).
// jelly calls jellyRef for every value that is not one of the Python values
// above; ok true means sexp (for example []any{"remote", int64(3)}) goes on
// the wire as it is; ok false lets jelly serialize the value by reflection.
type jellyHooks interface {
	unjellyRemote(id int64) (any, error)
	unjellyLocal(id int64) (any, error)
	jellyRef(v any) (sexp any, ok bool, err error)
}

// jellyCacheHooks is an optional extension of jellyHooks for pb.Cacheable
// copies: unjellyCache is called with the class and state for a first copy,
// [class, luid, state], and with class "" and a nil state for ['cached',
// luid]. Without it, a Cacheable is a *JellyError.
type jellyCacheHooks interface {
	unjellyCache(luid int64, class string, state any) (any, error)
}

// Jelly tags (PB-WIRE.md §3.1, §3.2).
const (
	tagNone          = "None"
	tagUnicode       = "unicode"
	tagBoolean       = "boolean"
	tagList          = "list"
	tagTuple         = "tuple"
	tagDictionary    = "dictionary"
	tagSet           = "set"
	tagFrozenSet     = "frozenset"
	tagReference     = "reference"
	tagDereference   = "dereference"
	tagUnpersistable = "unpersistable"
	tagRemote        = "remote"
	tagLocal         = "local"
	tagCached        = "cached"
	tagFailure       = "twisted.spread.pb.CopyableFailure"
)

// jellyDepthLimit caps the nesting of one jellied value. Its outermost list
// sits inside a broker command (['message', …, args, kw], ['answer', id,
// result]), one Banana level deeper, so the whole command stays within
// bananaDepthLimit.
const jellyDepthLimit = bananaDepthLimit - 1

// rawSexp is a jelly expression that goes on the wire as it is: what a
// jellyRef hook returned for a reference found inside a Go value.
type rawSexp struct{ sexp any }

// jelly turns v into a jelly expression for appendBanana. v is a Python value
// as described in values.go, or any Go value: jelly asks h.jellyRef first
// for every value it does not know itself (so the broker can send
// ['remote', luid] or ['local', luid]), and converts what remains by
// reflection as fromGo does. With py2Strings a Go string goes out as a bare
// byte string (Python 2's str), otherwise as ['unicode', utf8] (Python 3's
// str); dictionary keys and Copyable state keys follow the same rule.
//
// A structure reached twice (the same slice, *Dict or *Instance) goes out
// once as ['reference', n, …] and then as ['dereference', n], n counting
// from 1 in the order Twisted numbers them (when the second sighting
// happens), so cycles work. A value that cannot be sent is an error matching
// ErrUnsendable, or the hook's error.
func jelly(v any, h jellyHooks, py2Strings bool) (any, error) {
	if sexp, ok := jellyFlat(v, py2Strings); ok {
		return sexp, nil
	}
	j := jellier{h: h, py2: py2Strings}
	var root any
	if err := j.into(&root, v, 1); err != nil {
		return nil, err
	}
	return root, nil
}

// jellyFlat jellies, without the bookkeeping of references, the values no
// reference can point into: the scalars jellyScalar knows, and a tuple or
// list of them, or an empty dictionary. ok is false for any other value.
func jellyFlat(v any, py2 bool) (sexp any, ok bool) {
	var items []any
	var tag any
	switch x := v.(type) {
	case Tuple:
		items, tag = x, tagTuple
	case []any:
		items, tag = x, tagList
	case *Dict:
		if x == nil || len(x.Items) > 0 {
			return nil, false
		}
		return []any{tagDictionary}, true
	default:
		return jellyScalar(v, py2)
	}
	out := make([]any, len(items)+1)
	out[0] = tag
	for i, e := range items {
		if out[i+1], ok = jellyScalar(e, py2); !ok {
			return nil, false
		}
	}
	return out, true
}

// jellyScalar jellies the scalars (None, bool, int, int64, float64, []byte,
// valid UTF-8 string) as jellier.into does. ok is false for any other value.
func jellyScalar(v any, py2 bool) (sexp any, ok bool) {
	switch x := v.(type) {
	case nil:
		return []any{tagNone}, true
	case bool:
		if x {
			return []any{tagBoolean, "true"}, true
		}
		return []any{tagBoolean, "false"}, true
	case int:
		return int64(x), true
	case int64, float64, []byte:
		return x, true
	case string:
		if py2 {
			return x, true
		}
		if !utf8.ValidString(x) {
			return nil, false
		}
		return []any{tagUnicode, x}, true
	}
	return nil, false
}

type jellyKey struct {
	p    any // *any of a slice's first element, or the *Dict / *Instance
	n    int
	kind string
}

type jellyMark struct {
	key  jellyKey
	slot *any  // where the first occurrence's expression sits; nil while it is being built
	ref  int64 // its reference number once seen twice
}

type jellier struct {
	h       jellyHooks
	py2     bool
	marks   []jellyMark
	index   map[jellyKey]int // marks by key, once there are many
	nextRef int64
}

const jellyLinearMarks = 32

func (j *jellier) find(k jellyKey) int {
	if j.index != nil {
		if i, ok := j.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range j.marks {
		if j.marks[i].key == k {
			return i
		}
	}
	return -1
}

func (j *jellier) add(k jellyKey) int {
	j.marks = append(j.marks, jellyMark{key: k})
	i := len(j.marks) - 1
	if j.index != nil {
		j.index[k] = i
	} else if len(j.marks) > jellyLinearMarks {
		j.index = make(map[jellyKey]int, 2*len(j.marks))
		for n, m := range j.marks {
			j.index[m.key] = n
		}
	}
	return i
}

// seen handles a structure already jellied (or being jellied): its first
// occurrence becomes ['reference', n, …] and this one ['dereference', n].
func (j *jellier) seen(i int) any {
	m := &j.marks[i]
	if m.ref == 0 {
		j.nextRef++
		m.ref = j.nextRef
		if m.slot != nil {
			*m.slot = []any{tagReference, m.ref, *m.slot}
		}
	}
	return []any{tagDereference, m.ref}
}

// begin looks k up. It returns -1 and true when the structure was seen
// before (slot then holds its dereference), or its new mark.
func (j *jellier) begin(slot *any, k jellyKey) (int, bool) {
	if i := j.find(k); i >= 0 {
		*slot = j.seen(i)
		return -1, true
	}
	return j.add(k), false
}

// end stores the finished expression of mark i in slot.
func (j *jellier) end(slot *any, i int, sexp []any) {
	if i < 0 {
		*slot = sexp
		return
	}
	m := &j.marks[i]
	if m.ref != 0 { // a cycle: seen inside itself
		*slot = []any{tagReference, m.ref, sexp}
		return
	}
	*slot = sexp
	m.slot = slot
}

func (j *jellier) tooDeep(depth int) error {
	if depth > jellyDepthLimit {
		return fmt.Errorf("%w: nested deeper than %d", ErrUnsendable, jellyDepthLimit)
	}
	return nil
}

func (j *jellier) into(slot *any, v any, depth int) error {
	switch v := v.(type) {
	case nil, bool, int, int64, float64, []byte:
		*slot, _ = jellyScalar(v, j.py2)
	case *big.Int:
		if v == nil {
			*slot = []any{tagNone}
		} else if v.IsInt64() {
			*slot = v.Int64()
		} else if v.BitLen() > 7*bananaPrefixLimit {
			return fmt.Errorf("%w: integer of %d bits: Banana carries at most %d", ErrUnsendable, v.BitLen(), 7*bananaPrefixLimit)
		} else {
			*slot = v
		}
	case string:
		return j.str(slot, v)
	case []any:
		return j.seq(slot, tagList, v, depth)
	case Tuple:
		return j.seq(slot, tagTuple, v, depth)
	case Set:
		return j.seq(slot, tagSet, v, depth)
	case FrozenSet:
		return j.seq(slot, tagFrozenSet, v, depth)
	case *Dict:
		if v == nil {
			*slot = []any{tagNone}
			return nil
		}
		return j.dict(slot, v, depth)
	case *Instance:
		if v == nil {
			*slot = []any{tagNone}
			return nil
		}
		return j.instance(slot, v, depth)
	case *Failure:
		if v == nil {
			*slot = []any{tagNone}
			return nil
		}
		return j.instanceAs(slot, failureInstance(v, j.py2), v, depth)
	case Failure:
		return j.instance(slot, failureInstance(&v, j.py2), depth)
	case *Unpersistable:
		if v == nil {
			*slot = []any{tagNone}
			return nil
		}
		*slot = []any{tagUnpersistable, v.Reason}
	case time.Time:
		sexp, err := jellyTime(v)
		if err != nil {
			return err
		}
		*slot = sexp
	case time.Duration:
		*slot = jellyDuration(v)
	case rawSexp:
		*slot = v.sexp
	default:
		g := goConverter{py2: j.py2, ref: j.h}
		pv, err := g.value(reflect.ValueOf(v), depth)
		if err != nil {
			return err
		}
		return j.into(slot, pv, depth)
	}
	return nil
}

func (j *jellier) str(slot *any, s string) error {
	if j.py2 {
		*slot = s
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: string is not valid UTF-8; send []byte for bytes", ErrUnsendable)
	}
	*slot = []any{tagUnicode, s}
	return nil
}

func (j *jellier) seq(slot *any, tag string, items []any, depth int) error {
	if err := j.tooDeep(depth); err != nil {
		return err
	}
	i := -1
	if len(items) > 0 {
		var seen bool
		if i, seen = j.begin(slot, jellyKey{p: &items[0], n: len(items), kind: tag}); seen {
			return nil
		}
	}
	out := make([]any, len(items)+1)
	out[0] = tagOf(tag)
	for n, e := range items {
		if err := j.into(&out[n+1], e, depth+1); err != nil {
			return err
		}
	}
	j.end(slot, i, out)
	return nil
}

// tagOf is a sequence's tag as an interface value that needs no allocation.
func tagOf(tag string) any {
	switch tag {
	case tagList:
		return tagList
	case tagTuple:
		return tagTuple
	case tagSet:
		return tagSet
	case tagFrozenSet:
		return tagFrozenSet
	}
	return tag
}

func (j *jellier) dict(slot *any, d *Dict, depth int) error {
	if err := j.tooDeep(depth); err != nil {
		return err
	}
	if len(d.Items) > 0 {
		if err := j.tooDeep(depth + 1); err != nil {
			return err
		}
	}
	i, seen := j.begin(slot, jellyKey{p: d, kind: tagDictionary})
	if seen {
		return nil
	}
	out, err := j.dictBody(d, depth)
	if err != nil {
		return err
	}
	j.end(slot, i, out)
	return nil
}

func (j *jellier) dictBody(d *Dict, depth int) ([]any, error) {
	out := make([]any, len(d.Items)+1)
	out[0] = tagDictionary
	for n, it := range d.Items {
		pair := make([]any, 2)
		if err := j.into(&pair[0], it.Key, depth+2); err != nil {
			return nil, err
		}
		if err := j.into(&pair[1], it.Value, depth+2); err != nil {
			return nil, err
		}
		out[n+1] = pair
	}
	return out, nil
}

func (j *jellier) instance(slot *any, inst *Instance, depth int) error {
	return j.instanceAs(slot, inst, inst, depth)
}

// instanceAs jellies inst, known for references by the pointer id.
func (j *jellier) instanceAs(slot *any, inst *Instance, id any, depth int) error {
	if err := j.tooDeep(depth); err != nil {
		return err
	}
	if !isClassName([]byte(inst.Class)) {
		return fmt.Errorf("%w: %q is not a Copyable class name", ErrUnsendable, inst.Class)
	}
	i, seen := j.begin(slot, jellyKey{p: id, kind: "instance"})
	if seen {
		return nil
	}
	state := inst.State
	if state == nil {
		state = &Dict{}
	}
	out := make([]any, 2)
	out[0] = inst.Class
	if err := j.dict(&out[1], state, depth+1); err != nil {
		return err
	}
	j.end(slot, i, out)
	return nil
}

// Defaults for a Failure's empty fields.
const failureNoTraceback = "Traceback unavailable\n"

// failureInstance builds the CopyableFailure state Twisted 22.4 sends, in its
// order: count, type (bytes), value, captureVars, frames, stack, tb, parents,
// unsafeTracebacks, traceback. Empty Parents become [Type, Exception,
// BaseException, object] of the peer's Python; an empty Traceback becomes
// Twisted's "Traceback unavailable\n".
func failureInstance(f *Failure, py2 bool) *Instance {
	parents := f.Parents
	if len(parents) == 0 {
		if py2 {
			parents = []string{f.Type, "exceptions.Exception", "exceptions.BaseException", "__builtin__.object"}
		} else {
			parents = []string{f.Type, "builtins.Exception", "builtins.BaseException", "builtins.object"}
		}
	}
	ps := make([]any, len(parents))
	for i, p := range parents {
		ps[i] = strings.ToValidUTF8(p, "\uFFFD")
	}
	tb := strings.ToValidUTF8(f.Traceback, "\uFFFD")
	if tb == "" {
		tb = failureNoTraceback
	}
	return &Instance{Class: tagFailure, State: &Dict{Items: []DictItem{
		{"count", int64(0)},
		{"type", []byte(f.Type)},
		{"value", strings.ToValidUTF8(f.Value, "\uFFFD")},
		{"captureVars", false},
		{"frames", []any{}},
		{"stack", []any{}},
		{"tb", nil},
		{"parents", ps},
		{"unsafeTracebacks", false},
		{"traceback", tb},
	}}}
}
