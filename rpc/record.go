package rpc

import (
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math"
	"reflect"
)

// Records — structs whose fields are all built-in scalars, like Args{A, B
// int} — travel inline as the scalar kind scalarRecord: a field count, then
// each field's name and its scalar encoding (see docs/PROTOCOL.md). Fields are
// matched by name on the receiving side, as gob matches them, so the two
// sides' struct types need not be the same type; what gob would send is the
// same, but this spares the small structs that make up most calls gob's
// per-message buffer and its compiled-engine dispatch.
const scalarRecord byte = 7

// maxRecordFields bounds a record's field count, on the wire and for the
// types sent as records (larger structs go through gob).
const maxRecordFields = 64

// recordField is one field of a record type: its name, index and kind.
type recordField struct {
	name  string
	index int
	kind  reflect.Kind
}

// recordPlan is how a struct type is sent as a record.
type recordPlan struct {
	fields []recordField
}

var (
	gobEncoderType    = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshalType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// planRecord returns how t is sent as a record, or nil when t is not a
// record: a struct of 1 to maxRecordFields fields, every one exported, not
// embedded, and of a bool, int, uint, float or string kind, whose values gob
// would encode field by field (it implements none of the interfaces gob
// defers to).
func planRecord(t reflect.Type) *recordPlan {
	if t.Kind() != reflect.Struct || t.NumField() == 0 || t.NumField() > maxRecordFields {
		return nil
	}
	for _, it := range []reflect.Type{gobEncoderType, binaryMarshalType, textMarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return nil
		}
	}
	p := &recordPlan{fields: make([]recordField, t.NumField())}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			return nil
		}
		switch k := f.Type.Kind(); k {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.String:
			p.fields[i] = recordField{name: f.Name, index: i, kind: k}
		default:
			return nil
		}
	}
	return p
}

// plan returns the record plan of t, remembered per lane (nil: t is not a
// record).
func (l *outLane) plan(t reflect.Type) *recordPlan {
	if p, ok := l.plans[t]; ok {
		return p
	}
	if l.plans == nil {
		l.plans = make(map[reflect.Type]*recordPlan)
	}
	p := planRecord(t)
	l.plans[t] = p
	return p
}

// recordOf returns the struct value rv holds and its plan when rv is a
// record (or a non-nil pointer to one).
func (l *outLane) recordOf(rv reflect.Value) (reflect.Value, *recordPlan) {
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return reflect.Value{}, nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return reflect.Value{}, nil
	}
	p := l.plan(rv.Type())
	if p == nil {
		return reflect.Value{}, nil
	}
	return rv, p
}

// appendRecord appends struct value v's inline encoding by plan p.
func appendRecord(b []byte, v reflect.Value, p *recordPlan) []byte {
	b = append(b, kindScalar, scalarRecord)
	b = binary.AppendUvarint(b, uint64(len(p.fields)))
	for _, f := range p.fields {
		b = appendString(b, f.name)
		fv := v.Field(f.index)
		switch f.kind {
		case reflect.Bool:
			c := byte(0)
			if fv.Bool() {
				c = 1
			}
			b = append(b, scalarBool, c)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b = binary.AppendVarint(append(b, scalarInt), fv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			b = binary.AppendUvarint(append(b, scalarUint), fv.Uint())
		case reflect.Float32, reflect.Float64:
			b = binary.BigEndian.AppendUint64(append(b, scalarFloat), math.Float64bits(fv.Float()))
		case reflect.String:
			b = appendString(append(b, scalarString), fv.String())
		}
	}
	return b
}

// recordTarget is the struct a record is decoded into: the parameter's type
// itself or, for a pointer parameter, the type it points to.
func recordTarget(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, t.Kind() == reflect.Struct
}

// readRecordAs reads a record as a value of type t (t nil: read and drop
// it) into ptr, a pointer to a zero value of t's record target, or into a
// new one when ptr is invalid. The value is ptr itself for a pointer type t,
// else what ptr points to. A t that no record fits is reported as misfit,
// with the wire fully consumed.
func (m *msgReader) readRecordAs(t reflect.Type, ptr reflect.Value, maxLen int, rc *recordCache) (v reflect.Value, misfit, err error) {
	var st reflect.Type
	if t != nil {
		if rt, ok := recordTarget(t); !ok {
			misfit = fmt.Errorf("a record cannot be a %s", t)
		} else if st = rt; !ptr.IsValid() {
			ptr = reflect.New(rt)
		}
	}
	var elem reflect.Value
	if st != nil {
		elem = ptr.Elem()
	}
	bad, err := m.readRecord(elem, rc.fields(st), maxLen, rc)
	if err != nil {
		return reflect.Value{}, nil, err
	}
	if misfit != nil || bad != nil || st == nil {
		return reflect.Value{}, firstErr(misfit, bad), nil
	}
	if t.Kind() == reflect.Pointer {
		return ptr, nil, nil
	}
	return elem, nil, nil
}

// recordCache remembers, per struct type, the fields records are decoded
// into, and holds the buffer field names are read into.
type recordCache struct {
	byType map[reflect.Type][]recordField
	name   []byte
}

// fields returns the exported, non-embedded fields of struct type t (t nil:
// none).
func (rc *recordCache) fields(t reflect.Type) []recordField {
	if t == nil {
		return nil
	}
	if fs, ok := rc.byType[t]; ok {
		return fs
	}
	var fs []recordField
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && !f.Anonymous {
			fs = append(fs, recordField{name: f.Name, index: i, kind: f.Type.Kind()})
		}
	}
	if rc.byType == nil {
		rc.byType = make(map[reflect.Type][]recordField)
	}
	rc.byType[t] = fs
	return fs
}

// readRecord reads a record's fields into dst, an addressable struct whose
// decodable fields are fields (dst invalid: read and drop them); rc holds the
// buffer names are read into. Each wire field goes to the field of the same
// name; wire fields dst lacks are skipped. A field value that does not fit, or a record with no field in
// common with dst, is reported as misfit, with the wire fully consumed.
func (m *msgReader) readRecord(dst reflect.Value, fields []recordField, maxLen int, rc *recordCache) (misfit, err error) {
	n, err := m.uvarint()
	if err != nil {
		return nil, err
	}
	if n > maxRecordFields {
		return nil, protocolErrorf("record of %d fields (limit %d)", n, maxRecordFields)
	}
	name := rc.name
	matched := false
	for range n {
		if name, err = m.bytes(name[:0], maxNameLen); err != nil {
			return nil, err
		}
		sk, err := m.ReadByte()
		if err != nil {
			return nil, eof(err)
		}
		if sk < scalarBool || sk > scalarString {
			return nil, protocolErrorf("record field of scalar kind %d", sk)
		}
		var fv reflect.Value
		if dst.IsValid() && misfit == nil {
			for _, f := range fields {
				if f.name == string(name) {
					fv = dst.Field(f.index)
					matched = true
					break
				}
			}
		}
		bad, err := m.fill(sk, fv, maxLen)
		if err != nil {
			return nil, err
		}
		if bad != nil && misfit == nil {
			misfit = fmt.Errorf("field %s: %v", name, bad)
		}
	}
	rc.name = name[:0]
	if dst.IsValid() && misfit == nil && !matched && n > 0 {
		misfit = fmt.Errorf("a record has no field in common with %s", dst.Type())
	}
	return misfit, nil
}
