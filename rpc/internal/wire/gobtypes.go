package wire

import (
	"encoding"
	"encoding/gob"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"
)

// A gob Encoder describes each type the first time a stream carries it.
// The types a value's static type reaches are described before the value,
// but the concrete type of a value held in an interface is described in the
// middle of the value that holds it: the value then spans several gob
// messages (or holds the description inline). A receiver whose decoding of
// that value stops before the interface — the value does not fit its type
// — reads no further: the rest of the value stays in the message and the
// description is never learnt, so the lane's decoder falls out of step
// with its encoder.
//
// A lane therefore describes such types before the value, as gob describes
// the others: announceTypes finds the concrete types held in interfaces in
// the value, and for each one the lane has not announced it encodes a value
// of that type and keeps only the type descriptions gob writes for it. Each
// gob value on a lane is thus zero or more type descriptions followed by
// exactly one value message (docs/PROTOCOL.md, "What every receiver must
// parse of gob").

// maxAnnounceDepth bounds how deep announceTypes looks into a value, and
// maxPointerChain the pointers it allocates to reach a value of a type.
const (
	maxAnnounceDepth = 1000
	maxPointerChain  = 100
)

var (
	gobEncoderIface    = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshalIface = reflect.TypeFor[encoding.BinaryMarshaler]()
)

// gobOpaque reports whether gob hands values of t to their own encoding
// method (GobEncode or MarshalBinary), as gob decides it: t, a type under
// its pointers, or (t not a pointer) *t implements the method.
func gobOpaque(t reflect.Type) bool {
	for _, it := range []reflect.Type{gobEncoderIface, binaryMarshalIface} {
		for rt := t; ; rt = rt.Elem() {
			if rt.Implements(it) {
				return true
			}
			if rt.Kind() != reflect.Pointer {
				break
			}
		}
		if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// gobSent reports whether gob sends struct field f: it is exported.
func gobSent(f reflect.StructField) bool {
	r, _ := utf8.DecodeRuneInString(f.Name)
	return unicode.IsUpper(r)
}

// mayHoldIface reports whether values of t can hold an interface value that
// gob encodes as such, remembering the answer per type.
func (en *Encoder) mayHoldIface(t reflect.Type) bool {
	if v, ok := en.ifaceTypes[t]; ok {
		return v
	}
	if en.ifaceTypes == nil {
		en.ifaceTypes = make(map[reflect.Type]bool)
	}
	v := holdsIface(t, map[reflect.Type]bool{})
	en.ifaceTypes[t] = v
	return v
}

// holdsIface is mayHoldIface without memory; seen holds the types being
// looked at (a recursive type holds an interface if one of its other paths
// does).
func holdsIface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || gobOpaque(t) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsIface(t.Elem(), seen)
	case reflect.Map:
		return holdsIface(t.Key(), seen) || holdsIface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); gobSent(f) && holdsIface(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// announceTypes writes, ahead of v, the descriptions of the concrete types
// held in interfaces in v that the lane has not announced yet.
func (en *Encoder) announceTypes(v reflect.Value) {
	if !v.IsValid() || !en.mayHoldIface(v.Type()) {
		return
	}
	en.found = en.found[:0]
	en.findIfaceTypes(v, 0)
	for i, t := range en.found {
		en.found[i] = nil
		en.announce(t)
	}
	en.found = en.found[:0]
}

// findIfaceTypes appends to en.found the concrete types of the interface
// values in v that the lane has not announced, in the order gob meets them.
// Its callers look only into values whose type mayHoldIface.
func (en *Encoder) findIfaceTypes(v reflect.Value, depth int) {
	if depth > maxAnnounceDepth {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if !en.announced[e.Type()] && !en.isFound(e.Type()) {
			en.found = append(en.found, e.Type())
		}
		if en.mayHoldIface(e.Type()) {
			en.findIfaceTypes(e, depth+1)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			en.findIfaceTypes(v.Elem(), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); gobSent(f) && en.mayHoldIface(f.Type) {
				en.findIfaceTypes(v.Field(i), depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if !en.mayHoldIface(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			en.findIfaceTypes(v.Index(i), depth+1)
		}
	case reflect.Map:
		k, e := en.mayHoldIface(v.Type().Key()), en.mayHoldIface(v.Type().Elem())
		if !k && !e {
			return
		}
		for it := v.MapRange(); it.Next(); {
			if k {
				en.findIfaceTypes(it.Key(), depth+1)
			}
			if e {
				en.findIfaceTypes(it.Value(), depth+1)
			}
		}
	}
}

func (en *Encoder) isFound(t reflect.Type) bool {
	for _, f := range en.found {
		if f == t {
			return true
		}
	}
	return false
}

// announce writes the descriptions of type t (and of the types it reaches)
// that the lane's encoder has not sent: it encodes a value of t, whose
// pointers are allocated (gob cannot encode a nil one), and drops the value
// message, the last of what gob wrote. Should that fail, what gob wrote is
// type descriptions only, and stays; the value that holds t is then encoded
// as gob would.
func (en *Encoder) announce(t reflect.Type) {
	if en.announced == nil {
		en.announced = make(map[reflect.Type]bool)
	}
	en.announced[t] = true
	z := reflect.New(t).Elem()
	n := 0
	for p := z; p.Kind() == reflect.Pointer; p = p.Elem() {
		if n++; n > maxPointerChain {
			return // a recursive pointer type, which gob refuses
		}
		p.Set(reflect.New(p.Type().Elem()))
	}
	en.lastWrite = -1
	if en.encodeRaw(z) == nil && en.lastWrite >= 0 {
		*en.buf = (*en.buf)[:en.lastWrite]
	}
}

// encodeRaw gob-encodes v on the lane, containing gob's panics.
func (en *Encoder) encodeRaw(v reflect.Value) error {
	return ContainGob("encoding", en.gob.EncodeValue, v)
}

// ContainGob runs f, a gob Encoder's EncodeValue or Decoder's DecodeValue,
// on v, and returns a panic inside gob, which it raises on some values and
// inputs (a field promoted through a nil embedded pointer, say), as a
// *gobPanicError: an error of that one value. What the error means for the
// lane is its caller's to decide.
func ContainGob(op string, f func(reflect.Value) error, v reflect.Value) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &gobPanicError{op: op, value: p}
		}
	}()
	return f(v)
}

// gobPanicError is a panic raised by gob while encoding or decoding one
// value.
type gobPanicError struct {
	op    string // "encoding" or "decoding"
	value any
}

func (e *gobPanicError) Error() string {
	return fmt.Sprintf("gob: panic %s a value: %v", e.op, e.value)
}
