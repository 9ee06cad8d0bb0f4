package registry

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// remotePrefix starts the Go name of every remotely callable method.
const remotePrefix = "Remote"

// Method is one remotely callable method (or function), with everything a
// call needs computed at registration.
//
// A Method is immutable and safe for concurrent use. Methods of one Go type
// are shared by every [Object] of that type.
type Method struct {
	// Name is the exposed name: the Go name without "Remote", e.g.
	// "TakeTwo" for RemoteTakeTwo, or the canonical form of the name given
	// to [Registry.Func].
	Name string
	// Params are the parameter types after the optional leading
	// context.Context. For a variadic method the last one is the slice type.
	Params []reflect.Type
	// Variadic reports whether the last parameter is variadic.
	Variadic bool
	// Result is the type of the value returned, or nil when the method
	// returns nothing or only an error.
	Result reflect.Type

	fn       reflect.Value // method expression (receiver first) or function
	recvType reflect.Type  // nil for a function
	owner    *table        // the table of recvType the method is in; nil for a function
	goName   string        // Go method name, or the name given to Func
	hasCtx   bool
	hasErr   bool
	numIn    int        // inputs of fn: receiver, context, params
	boxes    *sync.Pool // *context.Context, shared by the Registry's methods
	sig      string     // String()
}

// HasContext reports whether the method takes a leading context.Context.
func (m *Method) HasContext() bool { return m.hasCtx }

// HasError reports whether the method returns an error (alone or after its
// result).
func (m *Method) HasError() bool { return m.hasErr }

// String describes the method for introspection, e.g.
// "TakeTwo(ctx, int, string) (int, error)" or "Sum(...int) int".
func (m *Method) String() string { return m.sig }

// ArgType is the type argument i (0-based, after the optional context)
// takes: its parameter's type, or for a variadic method the element type of
// the final slice for arguments from len(Params)-1 on.
func (m *Method) ArgType(i int) reflect.Type {
	n := len(m.Params)
	if m.Variadic && i >= n-1 {
		return m.Params[n-1].Elem()
	}
	return m.Params[i]
}

// inBuf is how many call inputs (receiver, context, parameters) fit in the
// array on Call's stack; more take an allocation.
const inBuf = 8

// Call calls the method with ctx (when it takes one) and args, on recv for a
// method of a type, and returns its result and its error.
//
// recv is ignored for a function made by [Registry.Func]; for a method it must
// be a value of the type the method was registered from ([Object.Call] passes
// its own). args must hold len(m.Params) valid values of those types (a value
// assignable to the parameter type is accepted too); for a variadic method the
// last is the slice. A nil ctx is replaced by context.Background().
//
// The result is the invalid reflect.Value when m.Result is nil. The error is
// the one the method returned, unchanged, or an error wrapping
// [ErrBadArguments] when the arguments do not fit (the method is then not
// run), or a *[PanicError] when the method panicked.
func (m *Method) Call(ctx context.Context, recv reflect.Value, args []reflect.Value) (result reflect.Value, err error) {
	if err := m.checkArgs(args); err != nil {
		return reflect.Value{}, err
	}
	if m.recvType != nil && (!recv.IsValid() || recv.Type() != m.recvType || !recv.CanInterface()) {
		return reflect.Value{}, fmt.Errorf("%w: %s: receiver is %s, want %s", ErrBadArguments, m.Name, typeOf(recv), m.recvType)
	}
	return m.invoke(ctx, recv, args)
}

// checkArgs checks that args fit m's parameters, as Call documents.
func (m *Method) checkArgs(args []reflect.Value) error {
	if len(args) != len(m.Params) {
		return fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArguments, m.Name, len(m.Params), len(args))
	}
	for i, a := range args {
		if !a.IsValid() || !a.CanInterface() {
			return fmt.Errorf("%w: %s: argument %d is an invalid or unexported value", ErrBadArguments, m.Name, i+1)
		}
		if at := a.Type(); at != m.Params[i] && !at.AssignableTo(m.Params[i]) {
			return fmt.Errorf("%w: %s: argument %d is %s, want %s", ErrBadArguments, m.Name, i+1, at, m.Params[i])
		}
	}
	return nil
}

// invoke is Call once the arguments and the receiver are checked.
func (m *Method) invoke(ctx context.Context, recv reflect.Value, args []reflect.Value) (result reflect.Value, err error) {
	var buf [inBuf]reflect.Value
	in := buf[:0]
	if m.numIn > inBuf {
		in = make([]reflect.Value, 0, m.numIn)
	}
	if m.recvType != nil {
		in = append(in, recv)
	}
	if !m.hasCtx {
		in = append(in, args...)
		return m.call(in)
	}
	if cv, ok := ctx.(contextValuer); ok {
		in = append(in, cv.ContextValue())
		in = append(in, args...)
		return m.call(in)
	}
	// The context goes in through a pooled box: a reflect.Value of
	// interface type needs addressable memory, and a fresh one per call
	// would be an allocation.
	box := m.boxes.Get().(*context.Context)
	if ctx == nil {
		ctx = context.Background()
	}
	*box = ctx
	in = append(in, reflect.ValueOf(box).Elem())
	in = append(in, args...)
	result, err = m.call(in)
	*box = nil
	m.boxes.Put(box)
	return result, err
}

// contextValuer is a context that holds itself as a context.Context
// variable, such as the rpc package's context of an incoming call:
// ContextValue returns that variable's reflect.Value (of type
// context.Context, holding the context itself), which Call passes instead of
// boxing the context.
type contextValuer interface {
	context.Context
	ContextValue() reflect.Value
}

// newCtxBox makes the box that holds the context of one call while it is
// passed to reflect.
func newCtxBox() any { return new(context.Context) }

// call runs fn, turning a panic into a *PanicError.
func (m *Method) call(in []reflect.Value) (result reflect.Value, err error) {
	defer func() {
		if v := recover(); v != nil {
			result, err = reflect.Value{}, &PanicError{Method: m.Name, Value: v, Stack: debug.Stack()}
		}
	}()
	var out []reflect.Value
	if m.Variadic {
		out = m.fn.CallSlice(in)
	} else {
		out = m.fn.Call(in)
	}
	if m.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			err = e.Interface().(error)
		}
	}
	if m.Result != nil {
		result = out[0]
	}
	return result, err
}

func typeOf(v reflect.Value) string {
	if !v.IsValid() {
		return "invalid"
	}
	return v.Type().String()
}

// newMethod checks the signature ft (whose first skip inputs are the
// receiver) and builds the Method, or returns the reasons it is refused.
func newMethod(name, goName string, fn reflect.Value, ft reflect.Type, skip int, special func(reflect.Type) bool, boxes *sync.Pool) (*Method, []string) {
	m := &Method{Name: name, goName: goName, fn: fn, Variadic: ft.IsVariadic(), numIn: ft.NumIn(), boxes: boxes}
	if skip > 0 {
		m.recvType = ft.In(0)
	}
	var reasons []string
	first := skip
	if ft.NumIn() > skip && ft.In(skip) == contextType {
		m.hasCtx = true
		first++
	}
	for i := first; i < ft.NumIn(); i++ {
		pt := ft.In(i)
		m.Params = append(m.Params, pt)
		what := fmt.Sprintf("parameter %d", i-skip+1)
		if r := checkTop(special, what, pt); r != "" {
			reasons = append(reasons, r)
		}
	}

	switch ft.NumOut() {
	case 0:
	case 1:
		if out := ft.Out(0); out == errorType {
			m.hasErr = true
		} else {
			m.Result = out
		}
	case 2:
		m.Result = ft.Out(0)
		if ft.Out(1) != errorType {
			reasons = append(reasons, fmt.Sprintf("the second result is %s; it must be error", ft.Out(1)))
		} else {
			m.hasErr = true
		}
		if m.Result == errorType {
			reasons = append(reasons, "the first of two results is error; allowed results are (), (error), (T) and (T, error)")
		}
	default:
		reasons = append(reasons, fmt.Sprintf("it returns %d results; allowed results are (), (error), (T) and (T, error)", ft.NumOut()))
	}
	if m.Result != nil && m.Result != errorType {
		if r := checkTop(special, "the result", m.Result); r != "" {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) > 0 {
		return nil, reasons
	}
	m.sig = signature(m)
	return m, nil
}

// signature renders "Name(ctx, int, ...string) (int, error)".
func signature(m *Method) string {
	var b strings.Builder
	b.WriteString(m.Name)
	b.WriteByte('(')
	var parts []string
	if m.hasCtx {
		parts = append(parts, "ctx")
	}
	for i, p := range m.Params {
		if m.Variadic && i == len(m.Params)-1 {
			parts = append(parts, "..."+p.Elem().String())
		} else {
			parts = append(parts, p.String())
		}
	}
	b.WriteString(strings.Join(parts, ", "))
	b.WriteByte(')')
	switch {
	case m.Result != nil && m.hasErr:
		b.WriteString(" (" + m.Result.String() + ", error)")
	case m.Result != nil:
		b.WriteString(" " + m.Result.String())
	case m.hasErr:
		b.WriteString(" error")
	}
	return b.String()
}

// Canonical returns the exposed form of a method name: the first rune upper
// case ("takeTwo" -> "TakeTwo"). Other runes are left alone, and "" stays "".
// It does not allocate when name is already canonical.
func Canonical(name string) string {
	if u, size, changed := upperHead(name); changed {
		return string(u) + name[size:]
	}
	return name
}

// AppendCanonical appends Canonical(name) to dst, for a caller that looks a
// name up without building a string (a map index with string(b) does not
// allocate).
func AppendCanonical(dst []byte, name string) []byte {
	if u, size, changed := upperHead(name); changed {
		return append(utf8.AppendRune(dst, u), name[size:]...)
	}
	return append(dst, name...)
}

// upperHead returns name's first rune in upper case and that rune's size in
// bytes, and whether the upper case differs from it (false for "").
func upperHead(name string) (u rune, size int, changed bool) {
	r, size := utf8.DecodeRuneInString(name)
	u = unicode.ToUpper(r)
	return u, size, size > 0 && u != r
}

// lowerCamel returns name with its first rune lower case ("TakeTwo" -> "takeTwo").
func lowerCamel(name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 {
		return name
	}
	l := unicode.ToLower(r)
	if l == r {
		return name
	}
	return string(l) + name[size:]
}

// exposedName returns the exposed name of a Go method name and whether the
// method is remote at all: the name is "Remote" followed by a rune that is
// upper case. "Remote", "Remotefoo" and "Remote_x" are not remote.
func exposedName(goName string) (string, bool) {
	rest, ok := strings.CutPrefix(goName, remotePrefix)
	if !ok {
		return "", false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	if !unicode.IsUpper(r) {
		return "", false
	}
	return rest, true
}

// caseStable returns "" when name survives the trip to its lower-camel form
// and back (Canonical(lowerCamel(name)) == name), or the reason it does not.
// Without that, a caller using the lower-camel form and one using Canonical
// of it would reach different methods.
func caseStable(name string) string {
	lower := lowerCamel(name)
	if back := Canonical(lower); back != name {
		return fmt.Sprintf("exposed name %q is not case-stable: its lower-camel form %q canonicalises to %q", name, lower, back)
	}
	return ""
}

// validFuncName returns "" when name can name a function: a Go identifier
// whose first rune is a letter, and case-stable once canonical.
func validFuncName(name string) string {
	if name == "" {
		return "func name is empty"
	}
	for i, r := range name {
		if i == 0 && !unicode.IsLetter(r) {
			return fmt.Sprintf("name %q does not start with a letter", name)
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return fmt.Sprintf("name %q is not an identifier", name)
		}
	}
	return caseStable(Canonical(name))
}

func joinReasons(reasons []string) string { return strings.Join(reasons, "; ") }

// sortMethods sorts by exposed Name.
func sortMethods(ms []*Method) {
	slices.SortFunc(ms, func(a, b *Method) int { return strings.Compare(a.Name, b.Name) })
}
