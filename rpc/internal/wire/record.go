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

// planField is one field of a record type: its name, its offset in the
// struct and its kind.
type planField struct {
	name   string
	offset uintptr
	kind   reflect.Kind
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
			p.fields[i] = planField{name: f.Name, offset: f.Offset, kind: k}
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

// Record is a record value ready to be encoded (AppendRecord): where its
// fields lie, and its type's plan. The zero Record is no record.
type Record struct {
	at unsafe.Pointer // the struct's memory, kept alive by the Record
	p  *Plan
}

// OK reports whether r is a record.
func (r Record) OK() bool { return r.p != nil }

// RecordOf returns a as a record when it is one (or a non-nil pointer to
// one); the zero Record when it is not. The dynamic type asked for last is
// answered with no reflection, and no call: a lane mostly sees the same
// types again, and a freshly started caller encodes its record within its
// first stack.
func (e *Encoder) RecordOf(a any) Record {
	w := (*eface)(unsafe.Pointer(&a))
	if w.typ != e.recType || w.typ == nil {
		e.recType, e.recPlan = w.typ, e.planOf(a)
	}
	if e.recPlan == nil || w.data == nil {
		return Record{}
	}
	return Record{w.data, e.recPlan}
}

// planOf returns the plan of the record a holds or points to, or nil.
//
//go:noinline
func (e *Encoder) planOf(a any) *Plan {
	if t := recordType(a); t != nil {
		return e.plan(t)
	}
	return nil
}

// eface is the layout of an interface value: its dynamic type's word, and
// its data word. The data word points to the value held for every type but
// the pointer-shaped ones, and is the pointer itself for a pointer. A
// pointer-shaped struct has a single field of a pointer-shaped type, so a
// record, whose fields are scalars, never is one: for the types with a
// plan, the data word is where the struct lies (for a pointer to one, nil
// when the pointer is).
type eface struct {
	typ, data unsafe.Pointer
}

// recordType returns the struct type a holds, or points to; nil when a
// holds neither.
func recordType(a any) reflect.Type {
	t := reflect.TypeOf(a)
	if t == nil {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// Plans remembers record plans per type, for concurrent use: the encoding
// of records with no lane's Encoder at hand. The dynamic type asked for
// last is answered without a map lookup or a call, as Encoder.RecordOf
// answers it. The zero Plans is empty and ready to use.
type Plans struct {
	m    sync.Map // dynamic type word -> *typedPlan
	last atomic.Pointer[typedPlan]
}

// typedPlan is the record plan of a dynamic type (nil: not a record), as
// Plans keeps it.
type typedPlan struct {
	typ unsafe.Pointer
	p   *Plan
}

// RecordOf is Encoder.RecordOf with p's plans.
func (p *Plans) RecordOf(a any) Record {
	w := (*eface)(unsafe.Pointer(&a))
	tp := p.last.Load()
	if tp == nil || tp.typ != w.typ || w.typ == nil {
		tp = p.planOf(a)
	}
	if tp.p == nil || w.data == nil {
		return Record{}
	}
	return Record{w.data, tp.p}
}

// planOf finds the plan of a's dynamic type, remembered or made now, and
// remembers it as the last asked for.
//
//go:noinline
func (p *Plans) planOf(a any) *typedPlan {
	typ := (*eface)(unsafe.Pointer(&a)).typ
	v, ok := p.m.Load(typ)
	if !ok {
		var pl *Plan
		if t := recordType(a); t != nil {
			pl = planRecord(t)
		}
		v, _ = p.m.LoadOrStore(typ, &typedPlan{typ, pl})
	}
	tp := v.(*typedPlan)
	p.last.Store(tp)
	return tp
}

// AppendRecord appends r's inline encoding.
func AppendRecord(b []byte, r Record) []byte {
	b = append(b, KindScalar, ScalarRecord)
	b = binary.AppendUvarint(b, uint64(len(r.p.fields)))
	for i := range r.p.fields {
		f := &r.p.fields[i]
		b = AppendString(b, f.name)
		at := unsafe.Add(r.at, f.offset)
		switch f.kind {
		case reflect.Bool:
			c := byte(0)
			if *(*bool)(at) {
				c = 1
			}
			b = append(b, scalarBool, c)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b = binary.AppendVarint(append(b, scalarInt), loadInt(at, f.kind))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			b = binary.AppendUvarint(append(b, scalarUint), loadUint(at, f.kind))
		case reflect.Float32:
			b = binary.BigEndian.AppendUint64(append(b, scalarFloat), math.Float64bits(float64(*(*float32)(at))))
		case reflect.Float64:
			b = binary.BigEndian.AppendUint64(append(b, scalarFloat), math.Float64bits(*(*float64)(at)))
		case reflect.String:
			b = AppendString(append(b, scalarString), *(*string)(at))
		}
	}
	return b
}

// loadInt reads the signed integer of kind k at at.
func loadInt(at unsafe.Pointer, k reflect.Kind) int64 {
	switch k {
	case reflect.Int8:
		return int64(*(*int8)(at))
	case reflect.Int16:
		return int64(*(*int16)(at))
	case reflect.Int32:
		return int64(*(*int32)(at))
	case reflect.Int64:
		return *(*int64)(at)
	}
	return int64(*(*int)(at))
}

// loadUint reads the unsigned integer of kind k at at.
func loadUint(at unsafe.Pointer, k reflect.Kind) uint64 {
	switch k {
	case reflect.Uint8:
		return uint64(*(*uint8)(at))
	case reflect.Uint16:
		return uint64(*(*uint16)(at))
	case reflect.Uint32:
		return uint64(*(*uint32)(at))
	case reflect.Uint64:
		return *(*uint64)(at)
	}
	return uint64(*(*uint)(at))
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
