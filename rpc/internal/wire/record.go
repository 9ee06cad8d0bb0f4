package wire

import (
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"go/token"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Records — structs whose fields are all built-in scalars, like Args{A, B
// int} — travel inline as the scalar kind ScalarRecord: a field count, then
// each field's name and its scalar encoding (see docs/PROTOCOL.md). Fields are
// matched by name on the receiving side, as gob matches them, so the two
// sides' struct types need not be the same type; what gob would send is the
// same, but this spares the small structs that make up most calls gob's
// per-message buffer and its compiled-engine dispatch.
const ScalarRecord byte = 7 // the scalar kind of a record

// maxRecordFields bounds a record's field count, on the wire and for the
// types sent as records (larger structs go through gob).
const maxRecordFields = 64

// planField is one field of a record type: its name, index and kind.
type planField struct {
	name  string
	index int
	kind  reflect.Kind
}

// Plan is how a struct type is sent as a record.
type Plan struct {
	fields []planField
}

var (
	gobEncoderType    = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshalType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// planRecord returns how t is sent as a record, or nil when t is not a
// record: a struct of 1 to maxRecordFields fields, every one exported, not
// embedded, and of a bool, int, uint, float or string kind, whose values gob
// would encode field by field (neither t nor a field's type implements one
// of the interfaces gob defers to).
func planRecord(t reflect.Type) *Plan {
	if t.Kind() != reflect.Struct || t.NumField() == 0 || t.NumField() > maxRecordFields {
		return nil
	}
	if encodesItself(t) {
		return nil
	}
	p := &Plan{fields: make([]planField, t.NumField())}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || encodesItself(f.Type) {
			return nil
		}
		switch k := f.Type.Kind(); k {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.String:
			p.fields[i] = planField{name: f.Name, index: i, kind: k}
		default:
			return nil
		}
	}
	return p
}

// encodesItself reports whether gob hands values of t to a method of their
// own (GobEncode, MarshalBinary, MarshalText).
func encodesItself(t reflect.Type) bool {
	for _, it := range []reflect.Type{gobEncoderType, binaryMarshalType, textMarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// plan returns the record plan of t, remembered per lane (nil: t is not a
// record).
func (e *Encoder) plan(t reflect.Type) *Plan {
	return e.plans.Get(t, planRecord)
}

// TypeMemo remembers a value computed per type. The type asked for last is
// answered without a map lookup: a lane mostly sees the same types again.
// The zero TypeMemo is empty and ready to use.
type TypeMemo[V any] struct {
	last  reflect.Type
	lastV V
	m     map[reflect.Type]V
}

// Get returns the value for t, computing it with f the first time.
func (tm *TypeMemo[V]) Get(t reflect.Type, f func(reflect.Type) V) V {
	if t == tm.last && t != nil {
		return tm.lastV
	}
	v, ok := tm.m[t]
	if !ok {
		if tm.m == nil {
			tm.m = make(map[reflect.Type]V)
		}
		v = f(t)
		tm.m[t] = v
	}
	tm.last, tm.lastV = t, v
	return v
}

// RecordOf returns the struct value rv holds and its plan when rv is a
// record (or a non-nil pointer to one).
func (e *Encoder) RecordOf(rv reflect.Value) (reflect.Value, *Plan) {
	return recordOf(rv, e.plan)
}

// Plans remembers record plans per type, for concurrent use: the encoding
// of records with no lane's Encoder at hand. The type asked for last is
// answered without a map lookup, as TypeMemo answers it, since hashing an
// interface key costs more than the rest of a small record's encoding. The
// zero Plans is empty and ready to use.
type Plans struct {
	m    sync.Map // reflect.Type -> *typedPlan
	last atomic.Pointer[typedPlan]
}

// typedPlan is a type's record plan (nil: not a record), as Plans keeps it.
type typedPlan struct {
	t reflect.Type
	p *Plan
}

// RecordOf is Encoder.RecordOf with p's plans.
func (p *Plans) RecordOf(rv reflect.Value) (reflect.Value, *Plan) {
	return recordOf(rv, p.plan)
}

func (p *Plans) plan(t reflect.Type) *Plan {
	if tp := p.last.Load(); tp != nil && tp.t == t {
		return tp.p
	}
	v, ok := p.m.Load(t)
	if !ok {
		v, _ = p.m.LoadOrStore(t, &typedPlan{t, planRecord(t)})
	}
	tp := v.(*typedPlan)
	p.last.Store(tp)
	return tp.p
}

func recordOf(rv reflect.Value, plan func(reflect.Type) *Plan) (reflect.Value, *Plan) {
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return reflect.Value{}, nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return reflect.Value{}, nil
	}
	p := plan(rv.Type())
	if p == nil {
		return reflect.Value{}, nil
	}
	return rv, p
}

// AppendRecord appends struct value v's inline encoding by plan p.
func AppendRecord(b []byte, v reflect.Value, p *Plan) []byte {
	b = append(b, KindScalar, ScalarRecord)
	b = binary.AppendUvarint(b, uint64(len(p.fields)))
	for _, f := range p.fields {
		b = AppendString(b, f.name)
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
			b = AppendString(append(b, scalarString), fv.String())
		}
	}
	return b
}

// ReadRecordAs reads a record as a value of type t (t nil: read and drop
// it), as gob decodes a struct into t: through any pointers, into a struct
// type that does not decode itself. ptr, when valid, is a pointer to a zero
// value of t, a struct, to decode into. A t that no record fits is reported
// as misfit, with the wire fully consumed.
func (m *Reader) ReadRecordAs(t reflect.Type, ptr reflect.Value, maxLen int, rc *Targets) (v reflect.Value, misfit, err error) {
	var ti *Target
	var elem reflect.Value
	if t != nil {
		ti = rc.Target(t)
		if ti.Base.Kind() != reflect.Struct || ti.decodes {
			misfit = fmt.Errorf("a record cannot be a %s", t)
			ti = nil
		} else if ptr.IsValid() {
			elem = ptr.Elem()
		} else {
			elem = reflect.New(ti.Base).Elem()
		}
	}
	var fields []recordField
	if ti != nil {
		fields = ti.recordFields()
	}
	bad, err := m.readRecord(elem, fields, maxLen, rc)
	if err != nil {
		return reflect.Value{}, nil, err
	}
	if misfit != nil || bad != nil || ti == nil {
		return reflect.Value{}, firstErr(misfit, bad), nil
	}
	if ti.Ptrs == 0 {
		return elem, nil, nil
	}
	v = elem.Addr()
	for range ti.Ptrs - 1 {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	return v, nil, nil
}

// Target is what placing a scalar or record into a type needs to know
// of it: the type under its pointers, their number, and whether gob hands
// the type's values to its own decoding method.
type Target struct {
	Base    reflect.Type // t under its pointers
	Ptrs    int          // the pointers above Base
	decodes bool
	fields  *[]recordField // a struct base's fields, once learnt
}

var (
	gobDecoderType      = reflect.TypeFor[gob.GobDecoder]()
	binaryUnmarshalType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshalType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// newTargetInfo describes t.
func newTargetInfo(t reflect.Type) *Target {
	ti := &Target{Base: t}
	for ti.Base.Kind() == reflect.Pointer {
		ti.Base = ti.Base.Elem()
		ti.Ptrs++
	}
	for _, it := range []reflect.Type{gobDecoderType, binaryUnmarshalType, textUnmarshalType} {
		if ti.Base.Kind() != reflect.Interface && (ti.Base.Implements(it) || reflect.PointerTo(ti.Base).Implements(it)) {
			ti.decodes = true
		}
	}
	return ti
}

// Targets remembers, per type (a lane's decoding state), how scalars and records are placed into
// it, and holds the buffer field names are read into.
type Targets struct {
	targets TypeMemo[*Target]
	name    []byte
}

// Target returns what is known of t, learning it the first time.
func (rc *Targets) Target(t reflect.Type) *Target {
	return rc.targets.Get(t, newTargetInfo)
}

// recordField is a field of a struct type that a record's field of the same
// name decodes into: one gob would find by name (promoted fields of
// embedded structs included), with its index path and what is known of its
// type.
type recordField struct {
	name   string
	index  []int
	viaPtr bool // reached through an embedded pointer
	// intSize is the size in bytes of a signed integer field of the
	// struct itself (not promoted, not through pointers, not decoding
	// itself), which an int is stored into directly at offset; 0 for any
	// other field.
	intSize uint8
	offset  uintptr
	Target
}

// recordFields returns the fields of ti's struct type that records are
// decoded into, learning them the first time.
func (ti *Target) recordFields() []recordField {
	if ti.fields != nil {
		return *ti.fields
	}
	t := ti.Base
	var fs []recordField
	for _, vf := range reflect.VisibleFields(t) {
		if !token.IsExported(vf.Name) {
			continue
		}
		f, ok := t.FieldByName(vf.Name)
		if !ok || !slices.Equal(f.Index, vf.Index) {
			continue // ambiguous at its depth, or hidden by a shallower one
		}
		rf := recordField{name: f.Name, index: f.Index, Target: *newTargetInfo(f.Type)}
		if k := f.Type.Kind(); len(f.Index) == 1 && rf.Ptrs == 0 && !rf.decodes && k >= reflect.Int && k <= reflect.Int64 {
			rf.intSize, rf.offset = uint8(f.Type.Size()), f.Offset
		}
		for i := 1; i < len(f.Index); i++ {
			if t.FieldByIndex(f.Index[:i]).Type.Kind() == reflect.Pointer {
				rf.viaPtr = true
			}
		}
		fs = append(fs, rf)
	}
	ti.fields = &fs
	return fs
}

// readRecord reads a record's fields into dst, an addressable struct whose
// decodable fields are fields (dst invalid: read and drop them), as gob
// decodes a struct: each wire field goes to the field of the same name, which
// must be of a type the field's value fits (through pointers, allocated only
// for a value gob would send: not a zero one); wire fields dst lacks are
// skipped. A field that does not fit, or a record with no field in common
// with a struct that has fields, is reported as misfit, with the wire fully
// consumed.
func (m *Reader) readRecord(dst reflect.Value, fields []recordField, maxLen int, rc *Targets) (misfit, err error) {
	n, err := m.Uvarint()
	if err != nil {
		return nil, err
	}
	if n > maxRecordFields {
		return nil, Errorf("record of %d fields (limit %d)", n, maxRecordFields)
	}
	name := rc.name
	matched := false
	for k := range n {
		var f *recordField
		// A sender with the same struct sends its fields in this order:
		// the k-th field's name is compared where it lies.
		if dst.IsValid() && misfit == nil && k < uint64(len(fields)) && m.skipName(fields[k].name) {
			f = &fields[k]
			matched = true
			name = name[:0] // f.name is the field's name
		} else {
			if name, err = m.Bytes(name[:0], MaxNameLen); err != nil {
				return nil, err
			}
			if dst.IsValid() && misfit == nil {
				for i := range fields {
					if fields[i].name == string(name) {
						f = &fields[i]
						matched = true
						break
					}
				}
			}
		}
		sk, err := m.ReadByte()
		if err != nil {
			return nil, eof(err)
		}
		if sk < scalarBool || sk > scalarString {
			return nil, Errorf("record field of scalar kind %d", sk)
		}
		if f != nil && sk == scalarInt && f.intSize != 0 && dst.CanAddr() {
			// An int into a direct int field: placeField's work, without
			// the Scalar or the field's reflect.Value.
			v, err := m.Varint()
			if err != nil {
				return nil, eof(err)
			}
			if v != 0 && !storeInt(unsafe.Add(unsafe.Pointer(dst.UnsafeAddr()), f.offset), f.intSize, v) {
				misfit = fmt.Errorf("field %s: %d overflows a %s", f.name, v, f.Base)
			}
			continue
		}
		r, err := m.ReadRaw(sk, f != nil, maxLen)
		if err != nil {
			return nil, err
		}
		if f != nil {
			if bad := r.placeField(dst, f); bad != nil {
				misfit = fmt.Errorf("field %s: %v", f.name, bad)
			}
		}
	}
	rc.name = name[:0]
	if dst.IsValid() && misfit == nil && !matched && n > 0 && dst.NumField() > 0 {
		misfit = fmt.Errorf("a record has no field in common with %s", dst.Type())
	}
	return misfit, nil
}

// storeInt stores v in the signed integer of size bytes at p, or reports
// false, storing nothing, when v overflows it.
func storeInt(p unsafe.Pointer, size uint8, v int64) bool {
	switch size {
	case 1:
		if int64(int8(v)) != v {
			return false
		}
		*(*int8)(p) = int8(v)
	case 2:
		if int64(int16(v)) != v {
			return false
		}
		*(*int16)(p) = int16(v)
	case 4:
		if int64(int32(v)) != v {
			return false
		}
		*(*int32)(p) = int32(v)
	default:
		*(*int64)(p) = v
	}
	return true
}

// placeField stores r in struct dst's field f, as gob decodes a field.
func (r *Scalar) placeField(dst reflect.Value, f *recordField) error {
	if f.decodes || f.Base.Kind() == reflect.Interface || !r.Fits(f.Base) {
		return fmt.Errorf("a %s value does not fit a %s", r.src, dst.Type().FieldByIndex(f.index).Type)
	}
	if r.isZero() {
		return nil
	}
	var fv reflect.Value
	if len(f.index) == 1 {
		fv = dst.Field(f.index[0])
	} else {
		var err error
		if fv, err = dst.FieldByIndexErr(f.index); err != nil {
			return fmt.Errorf("promoted through a nil embedded pointer: %v", err)
		}
	}
	return r.Set(AllocPointers(fv, f.Ptrs))
}
