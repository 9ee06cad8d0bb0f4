package pb

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// Copyable is implemented by a Go struct type that travels as a pb.Copyable
// of a Python class: CopyableClass returns the class's tag exactly as the
// Python side registered it with setUnjellyableForClass (for example
// "game.models.Player"). Such a struct goes out as [class, state] and an
// Instance of that class converts into it. Any other struct goes out as a
// dictionary and converts from a dictionary. A Python peer drops the
// connection on an answer holding an unregistered class, so send Copyables
// only to peers that registered them.
//
// Fields, exported ones only, in declaration order: the tag `pb:"name"`
// names a field's attribute (`pb:"-"` leaves it out); without a tag the
// attribute is the Go name in lowerCamelCase (PlayerName → playerName, ID →
// id, HTTPPort → httpPort). On receipt a key matches a field by its name
// exactly, or else ignoring case and underscores, so player_name and
// PlayerName fill PlayerName too. Keys that match no field are ignored.
// Embedded structs without a tag contribute their fields.
type Copyable interface {
	CopyableClass() string
}

// Conversion errors. Every *ConvertError matches one of them.
var (
	// ErrMismatch reports a Python value of the wrong kind for the Go type:
	// a str where bytes are expected, a list where a Tuple is, an int into a
	// string, and so on.
	ErrMismatch = errors.New("pb: value does not fit the Go type")
	// ErrOverflow reports an int or float outside the Go type's range.
	ErrOverflow = errors.New("pb: value out of range")
	// ErrNone reports None sent into a Go type that has no nil.
	ErrNone = errors.New("pb: None into a non-nillable type")
	// ErrUnknownClass reports a Copyable whose class no Go type here
	// declares: an Instance into a struct of another class, or into a
	// struct that declares none.
	ErrUnknownClass = errors.New("pb: unknown Copyable class")
	// ErrTooLarge reports a value that would take more than
	// convertMaxValues Go values, or nest deeper than the depth cap, once
	// converted. A structure the peer shares (['dereference', n]) is copied
	// for each use when it goes into a typed slice, so a few bytes on the
	// wire could otherwise ask for an unbounded copy, and a cycle for an
	// endless one.
	ErrTooLarge = errors.New("pb: value too large to convert")
)

// convertMaxValues bounds the Go values one convertTo call creates. A
// Banana expression within bananaExprLimit holds at most 1.4 million
// tokens, so a value without shared parts always fits.
const convertMaxValues = 1 << 21

// ConvertError reports a Python value that does not convert into a Go type.
type ConvertError struct {
	// Path locates the value inside the one converted, as ".field", "[2]"
	// or "[key]" steps; empty for the value itself.
	Path string
	// Python describes the value ("int 300", "bytes", "instance of a.B").
	Python string
	// Go is the type it was converted into.
	Go reflect.Type
	// Err is ErrMismatch, ErrOverflow, ErrNone, ErrUnknownClass or
	// ErrTooLarge.
	Err error
}

// Error describes the value that could not be converted and why.
func (e *ConvertError) Error() string {
	at := ""
	if e.Path != "" {
		at = " at " + e.Path
	}
	return fmt.Sprintf("pb: cannot convert Python %s into %v%s: %v", e.Python, e.Go, at, strings.TrimPrefix(e.Err.Error(), "pb: "))
}

// Unwrap returns Err, so that errors.Is matches its sentinel.
func (e *ConvertError) Unwrap() error { return e.Err }

var (
	typeList      = reflect.TypeFor[[]any]()
	typeTuple     = reflect.TypeFor[Tuple]()
	typeSet       = reflect.TypeFor[Set]()
	typeFrozenSet = reflect.TypeFor[FrozenSet]()
	typeBigInt    = reflect.TypeFor[*big.Int]()
	typeCopyable  = reflect.TypeFor[Copyable]()
)

// convertTo converts the Python value v (as unjelly returns it) into a value
// of type t. A value whose Go type is assignable to t is taken as it is
// (which covers what the broker's hooks returned, *Dict into *Dict, …).
// Otherwise:
//
//   - bool from bool; integer kinds from int (overflow checked); float kinds
//     from float or int; *big.Int from int;
//   - string from str or bytes (Python 2's str); []byte only from bytes;
//   - slices and arrays from list, tuple, set or frozenset, except Tuple, Set
//     and FrozenSet, which take only their own Python type;
//   - maps from dict; structs from dict, and from an Instance of their
//     Copyable class; Failure from a CopyableFailure;
//   - pointers, slices, maps and interfaces from None as nil; a pointer from
//     what its element converts from.
func convertTo(v any, t reflect.Type) (reflect.Value, error) {
	var c converter
	out := reflect.New(t).Elem()
	if err := c.into(out, v); err != nil {
		return reflect.Value{}, err
	}
	return out, nil
}

type converter struct {
	path   []pathStep
	values int // into calls so far
	depth  int // into calls under way
}

// pathStep is one step of ConvertError.Path, formatted only on error.
type pathStep struct {
	field string // a struct field's attribute, or "" for an index or key
	index int    // a sequence index when key is nil and field is ""
	key   any    // a dict key, or keyStep for a key itself
}

// keyStep marks the step into a dict key itself.
type keyStep struct{}

func (c *converter) fail(v any, t reflect.Type, err error) error {
	var b strings.Builder
	for _, s := range c.path {
		switch {
		case s.field != "":
			b.WriteString("." + s.field)
		case s.key == keyStep{}:
			b.WriteString("[key]")
		case s.key != nil:
			b.WriteString("[" + keyString(s.key) + "]")
		default:
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return &ConvertError{Path: b.String(), Python: describe(v), Go: t, Err: err}
}

func describe(v any) string {
	switch v := v.(type) {
	case int64, *big.Int, float64, bool:
		return fmt.Sprintf("%s %v", pythonType(v), v)
	}
	return pythonType(v)
}

func (c *converter) push(s pathStep) { c.path = append(c.path, s) }
func (c *converter) pop()            { c.path = c.path[:len(c.path)-1] }

// into converts v into out, a settable value.
func (c *converter) into(out reflect.Value, v any) error {
	t := out.Type()
	c.values++
	c.depth++
	defer func() { c.depth-- }()
	if c.values > convertMaxValues || c.depth > jellyDepthLimit {
		return c.fail(v, t, ErrTooLarge)
	}
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			out.SetZero()
			return nil
		}
		return c.fail(v, t, ErrNone)
	}
	vt := reflect.TypeOf(v)
	if vt == t {
		out.Set(reflect.ValueOf(v))
		return nil
	}
	switch t {
	case typeTuple, typeSet, typeFrozenSet:
		return c.fail(v, t, ErrMismatch)
	case typeList:
		if seq, ok := sequence(v); ok {
			out.Set(reflect.ValueOf(seq))
			return nil
		}
	case typeBigInt:
		switch v := v.(type) {
		case int64:
			out.Set(reflect.ValueOf(big.NewInt(v)))
			return nil
		case *big.Int:
			out.Set(reflect.ValueOf(new(big.Int).Set(v)))
			return nil
		}
		return c.fail(v, t, ErrMismatch)
	}
	if t.Kind() == reflect.Interface {
		if vt.Implements(t) {
			out.Set(reflect.ValueOf(v))
			return nil
		}
		return c.fail(v, t, ErrMismatch)
	}
	if vt.AssignableTo(t) && !isModelSlice(vt) {
		out.Set(reflect.ValueOf(v))
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			out.SetBool(b)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch n := v.(type) {
		case int64:
			if out.OverflowInt(n) {
				return c.fail(v, t, ErrOverflow)
			}
			out.SetInt(n)
			return nil
		case *big.Int:
			return c.fail(v, t, ErrOverflow)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		switch n := v.(type) {
		case int64:
			if n < 0 || out.OverflowUint(uint64(n)) {
				return c.fail(v, t, ErrOverflow)
			}
			out.SetUint(uint64(n))
			return nil
		case *big.Int:
			if n.Sign() < 0 || !n.IsUint64() || out.OverflowUint(n.Uint64()) {
				return c.fail(v, t, ErrOverflow)
			}
			out.SetUint(n.Uint64())
			return nil
		}
	case reflect.Float32, reflect.Float64:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case int64:
			f = float64(n)
		case *big.Int:
			f, _ = new(big.Float).SetInt(n).Float64()
		default:
			return c.fail(v, t, ErrMismatch)
		}
		if !math.IsInf(f, 0) && out.OverflowFloat(f) {
			return c.fail(v, t, ErrOverflow)
		}
		if math.IsInf(f, 0) && !isFloat(v) {
			return c.fail(v, t, ErrOverflow)
		}
		out.SetFloat(f)
		return nil
	case reflect.String:
		switch s := v.(type) {
		case string:
			out.SetString(s)
			return nil
		case []byte:
			out.SetString(string(s))
			return nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if b, ok := v.([]byte); ok {
				out.SetBytes(append([]byte{}, b...))
				return nil
			}
			return c.fail(v, t, ErrMismatch)
		}
		seq, ok := sequence(v)
		if !ok {
			return c.fail(v, t, ErrMismatch)
		}
		s := reflect.MakeSlice(t, len(seq), len(seq))
		for i, e := range seq {
			c.push(pathStep{index: i})
			if err := c.into(s.Index(i), e); err != nil {
				return err
			}
			c.pop()
		}
		out.Set(s)
		return nil
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if b, ok := v.([]byte); ok && len(b) == t.Len() {
				reflect.Copy(out, reflect.ValueOf(b))
				return nil
			}
			return c.fail(v, t, ErrMismatch)
		}
		seq, ok := sequence(v)
		if !ok || len(seq) != t.Len() {
			return c.fail(v, t, ErrMismatch)
		}
		for i, e := range seq {
			c.push(pathStep{index: i})
			if err := c.into(out.Index(i), e); err != nil {
				return err
			}
			c.pop()
		}
		return nil
	case reflect.Map:
		d, ok := v.(*Dict)
		if !ok {
			return c.fail(v, t, ErrMismatch)
		}
		m := reflect.MakeMapWithSize(t, len(d.Items))
		for _, it := range d.Items {
			k := reflect.New(t.Key()).Elem()
			c.push(pathStep{key: keyStep{}})
			if err := c.into(k, it.Key); err != nil {
				return err
			}
			if !k.Comparable() {
				return c.fail(it.Key, t.Key(), ErrMismatch)
			}
			c.pop()
			e := reflect.New(t.Elem()).Elem()
			c.push(pathStep{key: it.Key})
			if err := c.into(e, it.Value); err != nil {
				return err
			}
			c.pop()
			m.SetMapIndex(k, e)
		}
		out.Set(m)
		return nil
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := c.into(p.Elem(), v); err != nil {
			return err
		}
		out.Set(p)
		return nil
	case reflect.Struct:
		return c.structInto(out, v)
	}
	return c.fail(v, t, ErrMismatch)
}

func isFloat(v any) bool { _, ok := v.(float64); return ok }

// isModelSlice reports the slice types of the value model, which convert only
// by kind (a Tuple is not assignable into a []T by accident).
func isModelSlice(t reflect.Type) bool {
	return t == typeList || t == typeTuple || t == typeSet || t == typeFrozenSet
}

// sequence returns the items of a list, tuple, set or frozenset.
func sequence(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case Tuple:
		return v, true
	case Set:
		return v, true
	case FrozenSet:
		return v, true
	}
	return nil, false
}

// keyString prints a dict key for an error path: text and numbers as
// themselves, anything else by its type only (a peer's key may be a cyclic
// tuple).
func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return fmt.Sprintf("%q", k)
	case []byte:
		return fmt.Sprintf("b%q", k)
	case int64, *big.Int, float64, bool, nil:
		return fmt.Sprint(k)
	}
	return "<" + pythonType(k) + ">"
}

func (c *converter) structInto(out reflect.Value, v any) error {
	t := out.Type()
	if t == reflect.TypeFor[Failure]() {
		if f, ok := v.(*Failure); ok {
			out.Set(reflect.ValueOf(*f))
			return nil
		}
		return c.fail(v, t, ErrMismatch)
	}
	class := copyableClass(t)
	var state *Dict
	switch v := v.(type) {
	case *Dict:
		state = v
	case *Instance:
		if class == "" || v.Class != class {
			return c.fail(v, t, ErrUnknownClass)
		}
		state = v.State
	default:
		return c.fail(v, t, ErrMismatch)
	}
	if state == nil {
		return nil
	}
	fields := structFields(t)
	for _, it := range state.Items {
		var name string
		switch k := it.Key.(type) {
		case string:
			name = k
		case []byte:
			name = string(k)
		default:
			continue
		}
		f := fields.lookup(name)
		if f == nil {
			continue
		}
		c.push(pathStep{field: f.name})
		fv, err := out.FieldByIndexErr(f.index)
		if err != nil { // a nil embedded pointer
			return c.fail(it.Value, t, ErrMismatch)
		}
		if err := c.into(fv, it.Value); err != nil {
			return err
		}
		c.pop()
	}
	return nil
}

// copyableClass returns the Python class a struct type declares through
// Copyable, on the value or the pointer, or "".
func copyableClass(t reflect.Type) string {
	switch {
	case t.Implements(typeCopyable):
		return reflect.Zero(t).Interface().(Copyable).CopyableClass()
	case reflect.PointerTo(t).Implements(typeCopyable):
		return reflect.New(t).Interface().(Copyable).CopyableClass()
	}
	return ""
}

type structField struct {
	name  string // the Python attribute name
	loose string // name folded: lower case, no underscores
	index []int
}

type fieldList []structField

func (l fieldList) lookup(name string) *structField {
	for i := range l {
		if l[i].name == name {
			return &l[i]
		}
	}
	loose := foldName(name)
	for i := range l {
		if l[i].loose == loose {
			return &l[i]
		}
	}
	return nil
}

// structFields lists the fields of struct type t as Copyable documents.
func structFields(t reflect.Type) fieldList {
	var out fieldList
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, tagged := f.Tag.Lookup("pb")
			if tag == "-" {
				continue
			}
			idx := append(slices.Clip(index), i)
			if f.Anonymous && !tagged {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[big.Int]() {
					walk(ft, idx)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			name := tag
			if name == "" {
				name = lowerCamel(f.Name)
			}
			out = append(out, structField{name: name, loose: foldName(name), index: idx})
		}
	}
	walk(t, nil)
	return out
}

// lowerCamel lowers the leading upper-case run of a Go name, keeping the
// last capital of a run that starts a new word: PlayerName → playerName, ID
// → id, HTTPPort → httpPort.
func lowerCamel(s string) string {
	r := []rune(s)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	switch {
	case n == 0:
		return s
	case n > 1 && n < len(r):
		n-- // the last capital begins the next word
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

func foldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r != '_' {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
