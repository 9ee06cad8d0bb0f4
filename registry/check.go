package registry

import (
	"context"
	"encoding"
	"encoding/gob"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Types the checks compare against. They are set once and never changed.
var (
	contextType           = reflect.TypeFor[context.Context]()
	errorType             = reflect.TypeFor[error]()
	gobEncoderType        = reflect.TypeFor[gob.GobEncoder]()
	gobDecoderType        = reflect.TypeFor[gob.GobDecoder]()
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// checker decides whether gob can carry a type, the way encoding/gob itself
// decides it, and refuses Special types anywhere but at the top.
//
// The rules, taken from encoding/gob:
//   - booleans, all integers (uintptr too), floats, complex numbers and
//     strings are carried;
//   - chan, func and unsafe.Pointer are not;
//   - pointers are followed to their target; a type that is only a cycle of
//     pointers (type P *P) is not carried;
//   - arrays, slices and maps are carried when their elements (and keys) are;
//   - a type that implements gob.GobEncoder or encoding.BinaryMarshaler, and
//     the matching decoder, on itself or on its pointer, is carried whole,
//     without looking inside (time.Time is one);
//   - a struct is carried when each field gob sends is: gob sends exported
//     fields and skips unexported ones and those of chan or func type (or
//     pointers to them). A struct that has fields but sends none is refused
//     ("no exported fields"); struct{} is carried;
//   - interfaces are carried; the concrete types that travel in them must be
//     registered with gob.Register, which only the values can tell.
//
// On top of gob's rules, context.Context is refused anywhere but as the
// leading parameter, and a type for which Options.Special reports true is
// refused when nested inside another type.
type checker struct {
	special func(reflect.Type) bool
	// seen holds the types already accepted or being checked, so that
	// recursive types terminate.
	seen map[reflect.Type]bool
	// path is the way from the top type to the one being checked.
	path []string
	// root is the top type.
	root reflect.Type
}

// checkTop checks the type of a whole parameter or result and returns "" or
// the reason it is refused. what names the place, e.g. "parameter 2".
func checkTop(special func(reflect.Type) bool, what string, t reflect.Type) string {
	if special != nil && special(t) {
		return ""
	}
	if t == contextType {
		return what + " is context.Context, which is only allowed as the first parameter"
	}
	c := checker{special: special, root: t}
	reason := c.check(t, true)
	if reason == "" {
		return ""
	}
	if len(c.path) > 0 {
		return fmt.Sprintf("%s (%s): in %s: %s", what, t, strings.Join(c.path, ", "), reason)
	}
	return fmt.Sprintf("%s (%s): %s", what, t, reason)
}

// check returns "" when gob can carry t, or the reason it cannot; on failure
// c.path leads from the top type to t.
func (c *checker) check(t reflect.Type, top bool) string {
	if !top {
		if c.special != nil && c.special(t) {
			return fmt.Sprintf("%s is a reference: references nested in %s are not supported; pass them as a top-level argument", t, c.root)
		}
		if t == contextType {
			return "context.Context is only allowed as the first parameter"
		}
	}
	if c.seen[t] {
		return ""
	}
	if c.seen == nil {
		c.seen = make(map[reflect.Type]bool)
	}
	c.seen[t] = true

	if t.Kind() == reflect.Pointer {
		return c.pointer(t)
	}
	if marshals(t) {
		return ""
	}
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128,
		reflect.String, reflect.Interface:
		return ""
	case reflect.Chan:
		return fmt.Sprintf("gob cannot carry %s (a channel)", t)
	case reflect.Func:
		return fmt.Sprintf("gob cannot carry %s (a function)", t)
	case reflect.UnsafePointer:
		return fmt.Sprintf("gob cannot carry %s", t)
	case reflect.Array, reflect.Slice:
		return c.nested("element", t.Elem())
	case reflect.Map:
		if r := c.nested("map key", t.Key()); r != "" {
			return r
		}
		return c.nested("map value", t.Elem())
	case reflect.Struct:
		return c.structure(t)
	}
	return fmt.Sprintf("gob cannot carry %s (kind %s)", t, t.Kind())
}

// nested checks an element, key, value, field or pointer target of t.
func (c *checker) nested(step string, t reflect.Type) string {
	c.path = append(c.path, step)
	if r := c.check(t, false); r != "" {
		return r
	}
	c.path = c.path[:len(c.path)-1]
	return ""
}

// pointer follows a chain of pointers to its target, refusing a type that is
// nothing but a cycle of pointers, as gob does.
func (c *checker) pointer(t reflect.Type) string {
	if marshals(t) {
		return ""
	}
	chain := map[reflect.Type]bool{t: true}
	elem := t.Elem()
	for elem.Kind() == reflect.Pointer {
		if chain[elem] {
			return fmt.Sprintf("gob cannot carry %s (a recursive pointer type)", t)
		}
		chain[elem] = true
		if c.special != nil && c.special(elem) {
			break
		}
		elem = elem.Elem()
	}
	return c.nested("pointer target", elem)
}

// structure checks the fields gob sends.
func (c *checker) structure(t reflect.Type) string {
	sent := 0
	for i := range t.NumField() {
		f := t.Field(i)
		if !gobSends(f) {
			continue
		}
		sent++
		if r := c.nested("field "+f.Name, f.Type); r != "" {
			return r
		}
	}
	if t.NumField() > 0 && sent == 0 {
		return fmt.Sprintf("gob cannot carry %s: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)", t)
	}
	return ""
}

// gobSends reports whether gob sends the field: it is exported and is not of
// chan or func type, nor a pointer to one (the rule of encoding/gob's isSent).
func gobSends(f reflect.StructField) bool {
	r, _ := utf8.DecodeRuneInString(f.Name)
	if !unicode.IsUpper(r) {
		return false
	}
	t := f.Type
	// The bound stops on pointer cycles (type P *P); check refuses those.
	for i := 0; i < 100 && t.Kind() == reflect.Pointer; i++ {
		t = t.Elem()
	}
	return t.Kind() != reflect.Chan && t.Kind() != reflect.Func
}

// marshals reports whether gob encodes t (or its pointer) through its own
// methods: GobEncoder or BinaryMarshaler to send, GobDecoder or
// BinaryUnmarshaler to receive. Both directions are required, since a
// parameter is received and a result is sent.
func marshals(t reflect.Type) bool {
	return implements(t, gobEncoderType, binaryMarshalerType) &&
		implements(t, gobDecoderType, binaryUnmarshalerType)
}

func implements(t reflect.Type, ifaces ...reflect.Type) bool {
	for _, i := range ifaces {
		if t.Implements(i) {
			return true
		}
		if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}
