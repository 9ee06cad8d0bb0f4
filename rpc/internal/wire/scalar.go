package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
	"unsafe"
)

// Value kinds: how an argument or a result travels.
const (
	KindNone   byte = 0 // no value (a result only: the method returns none)
	KindGob    byte = 1 // a gob value in the message's gob section
	KindNil    byte = 2 // a nil pointer, interface, slice or map: the zero value
	KindRemote byte = 3 // a reference to an object the sender exports (id follows)
	KindLocal  byte = 4 // a reference to an object the receiver exports (id follows)
	KindScalar byte = 5 // a built-in scalar, inline
	KindIface  byte = 6 // a gob value sent as an interface, in the gob section
)

// Scalars — booleans, integers, floats, strings and byte slices of the
// built-in types — travel inline in the envelope as KindScalar, not through
// gob: they are the commonest arguments and results, and this spares them
// gob's per-message buffer, type lookups and, for []byte, a copy. The kind
// byte after KindScalar says which encoding follows (see docs/PROTOCOL.md).
const (
	scalarBool   byte = 1  // one byte, 0 or 1
	scalarInt    byte = 2  // zig-zag varint
	scalarUint   byte = 3  // uvarint
	scalarFloat  byte = 4  // 8 bytes, IEEE 754 binary64, big-endian
	scalarString byte = 5  // uvarint length, bytes
	scalarBytes  byte = 6  // uvarint length, bytes
	scalarInt64  byte = 8  // an int64: zig-zag varint
	scalarInt32  byte = 9  // an int32: zig-zag varint
	scalarUintN  byte = 10 // a uint: uvarint
	scalarUint32 byte = 11 // a uint32: uvarint
)

// AppendScalar appends v's inline encoding if v is a built-in scalar.
func AppendScalar(b []byte, v any) ([]byte, bool) {
	// The commonest kind is encoded here and the others in appendScalar:
	// one frame holding every case's temporaries would be large enough to
	// make a freshly started goroutine's first call grow its stack.
	// Other values (records, gob values) never reach appendScalar either.
	switch x := v.(type) {
	case int:
		return binary.AppendVarint(append(b, KindScalar, scalarInt), int64(x)), true
	case int64, int32, uint64, uint32, uint, bool, float64, string, []byte:
		return appendScalar(b, v)
	}
	return b, false
}

// appendScalar is AppendScalar for the kinds other than int.
//
//go:noinline
func appendScalar(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case int64:
		return binary.AppendVarint(append(b, KindScalar, scalarInt64), x), true
	case int32:
		return binary.AppendVarint(append(b, KindScalar, scalarInt32), int64(x)), true
	case uint64:
		return binary.AppendUvarint(append(b, KindScalar, scalarUint), x), true
	case uint32:
		return binary.AppendUvarint(append(b, KindScalar, scalarUint32), uint64(x)), true
	case uint:
		return binary.AppendUvarint(append(b, KindScalar, scalarUintN), uint64(x)), true
	case bool:
		c := byte(0)
		if x {
			c = 1
		}
		return append(b, KindScalar, scalarBool, c), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, KindScalar, scalarFloat), math.Float64bits(x)), true
	case string:
		return AppendString(append(b, KindScalar, scalarString), x), true
	case []byte:
		if x == nil {
			return b, false
		}
		b = binary.AppendUvarint(append(b, KindScalar, scalarBytes), uint64(len(x)))
		return append(b, x...), true
	}
	return b, false
}

// TailMin is the size from which a byte slice that ends a message is
// written straight from the caller's memory instead of being copied into the
// lane's buffer first.
const TailMin = 32 << 10

// AppendBytesHeader appends the inline header of a byte slice scalar whose
// bytes follow as the message's tail.
func AppendBytesHeader(b []byte, n int) []byte {
	return binary.AppendUvarint(append(b, KindScalar, scalarBytes), uint64(n))
}

// IsScalar reports whether AppendScalar encodes v inline.
func IsScalar(v any) bool {
	switch x := v.(type) {
	case int, int64, int32, uint64, uint32, uint, bool, float64, string:
		return true
	case []byte:
		return x != nil
	}
	return false
}

var (
	intType     = reflect.TypeFor[int]()
	int64Type   = reflect.TypeFor[int64]()
	int32Type   = reflect.TypeFor[int32]()
	uint64Type  = reflect.TypeFor[uint64]()
	uint32Type  = reflect.TypeFor[uint32]()
	uintType    = reflect.TypeFor[uint]()
	boolType    = reflect.TypeFor[bool]()
	float64Type = reflect.TypeFor[float64]()
	stringType  = reflect.TypeFor[string]()
	bytesType   = reflect.TypeFor[[]byte]()
)

// readScalar reads an inline scalar and stores it in a new value of type t
// (t nil: read and drop it). A value that does not fit t, by gob's rules, is
// reported as misfit, with the wire fully consumed. Records are decoded into
// t's fields by name (rc remembers what it learnt of the types seen).
func (m *Reader) readScalar(t reflect.Type, maxLen int, rc *Targets) (v reflect.Value, misfit error, err error) {
	sk, err := m.ReadByte()
	if err != nil {
		return v, nil, err
	}
	return m.ReadScalarKind(sk, t, maxLen, rc)
}

// ReadScalarKind is readScalar once the scalar kind byte sk is read.
func (m *Reader) ReadScalarKind(sk byte, t reflect.Type, maxLen int, rc *Targets) (v reflect.Value, misfit error, err error) {
	if sk == ScalarRecord {
		return m.ReadRecordAs(t, reflect.Value{}, maxLen, rc)
	}
	r, err := m.ReadRaw(sk, t != nil, maxLen)
	if err != nil || t == nil {
		return reflect.Value{}, nil, err
	}
	if misfit = r.placeTop(t, rc); misfit != nil {
		return reflect.Value{}, misfit, nil
	}
	return r.out, nil, nil
}

// firstErr returns the first non-nil error of a and b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Scalar is a scalar as read from the wire: its family (the kind of
// record fields: bool, int, uint, float, string or bytes), its natural Go
// type, and its value.
type Scalar struct {
	fam byte
	src reflect.Type
	i   int64
	u   uint64
	f   float64
	s   []byte
	out reflect.Value // what placeTop made of it
}

// ReadRaw reads the encoding of a scalar of kind sk (the kind byte read);
// keep tells whether string bytes are kept or skipped.
func (m *Reader) ReadRaw(sk byte, keep bool, maxLen int) (r Scalar, err error) {
	switch sk {
	case scalarBool:
		c, err := m.ReadByte()
		if err != nil {
			return r, err
		}
		if c > 1 {
			return r, Errorf("boolean byte %d", c)
		}
		r.fam, r.src, r.u = scalarBool, boolType, uint64(c)
	case scalarInt, scalarInt64, scalarInt32:
		if r.i, err = m.Varint(); err != nil {
			return r, eof(err)
		}
		r.fam, r.src = scalarInt, intType
		switch sk {
		case scalarInt64:
			r.src = int64Type
		case scalarInt32:
			r.src = int32Type
		}
	case scalarUint, scalarUintN, scalarUint32:
		if r.u, err = m.Uvarint(); err != nil {
			return r, err
		}
		r.fam, r.src = scalarUint, uint64Type
		switch sk {
		case scalarUintN:
			r.src = uintType
		case scalarUint32:
			r.src = uint32Type
		}
	case scalarFloat:
		var b [8]byte
		if err := m.readFull(b[:]); err != nil {
			return r, eof(err)
		}
		r.fam, r.src, r.f = scalarFloat, float64Type, math.Float64frombits(binary.BigEndian.Uint64(b[:]))
	case scalarString, scalarBytes:
		n, err := m.Uvarint()
		if err != nil {
			return r, err
		}
		if n > uint64(m.n) || n > uint64(maxLen) {
			return r, Errorf("%d-byte string does not fit the message", n)
		}
		r.fam, r.src = sk, bytesType
		if sk == scalarString {
			r.src = stringType
		}
		if !keep {
			_, err = io.CopyN(io.Discard, m, int64(n))
			return r, eof(err)
		}
		if n > 0 {
			r.s = make([]byte, n)
			if err := m.readLarge(r.s); err != nil {
				return r, eof(err)
			}
		}
	default:
		return r, Errorf("unknown scalar kind %d", sk)
	}
	return r, nil
}

// Settable reports whether a scalar result may be stored straight into a
// variable of type t (with Fits and Set): a built-in type of no pointers, whose
// zero value a result never leaves in place.
func Settable(t reflect.Type) bool {
	switch t {
	case boolType, intType, int64Type, int32Type, uint64Type, uint32Type, uintType, float64Type, stringType:
		return true
	}
	return false
}

// ReadInt reads the value of a scalar of kind sk (the kind byte read) when
// it is a signed integer (ok); otherwise it reads nothing.
func (m *Reader) ReadInt(sk byte) (v int64, ok bool, err error) {
	switch sk {
	case scalarInt, scalarInt64, scalarInt32:
		v, err = m.Varint()
		return v, true, eof(err)
	}
	return 0, false, nil
}

// Type returns r's natural Go type.
func (r *Scalar) Type() reflect.Type { return r.src }

// isZero reports whether r is its type's zero value, which gob does not send
// for a struct field (the field is left alone).
func (r *Scalar) isZero() bool {
	switch r.fam {
	case scalarInt:
		return r.i == 0
	case scalarFloat:
		return r.f == 0
	case scalarString, scalarBytes:
		return len(r.s) == 0
	}
	return r.u == 0
}

// Fits reports whether gob decodes a value of r's family into base, a type
// without pointers, interface or methods of its own decoding.
func (r *Scalar) Fits(base reflect.Type) bool {
	k := base.Kind()
	switch r.fam {
	case scalarBool:
		return k == reflect.Bool
	case scalarInt:
		return k >= reflect.Int && k <= reflect.Int64
	case scalarUint:
		return k >= reflect.Uint && k <= reflect.Uintptr
	case scalarFloat:
		return k == reflect.Float32 || k == reflect.Float64
	case scalarString:
		return k == reflect.String
	}
	return k == reflect.Slice && base.Elem().Kind() == reflect.Uint8
}

// Set stores r in v, of a kind r fits, unless it is out of v's range. An
// empty byte slice stays nil, as gob leaves it.
func (r *Scalar) Set(v reflect.Value) error {
	switch r.fam {
	case scalarBool:
		v.SetBool(r.u == 1)
	case scalarInt:
		if v.OverflowInt(r.i) {
			return fmt.Errorf("%d overflows a %s", r.i, v.Type())
		}
		v.SetInt(r.i)
	case scalarUint:
		if v.OverflowUint(r.u) {
			return fmt.Errorf("%d overflows a %s", r.u, v.Type())
		}
		v.SetUint(r.u)
	case scalarFloat:
		if v.Kind() == reflect.Float32 && v.OverflowFloat(r.f) {
			return fmt.Errorf("%g overflows a %s", r.f, v.Type())
		}
		v.SetFloat(r.f)
	case scalarString:
		// r.s was made for this scalar by ReadRaw and nothing writes it:
		// the string can share its bytes.
		v.SetString(unsafe.String(unsafe.SliceData(r.s), len(r.s)))
	default:
		if len(r.s) > 0 {
			v.SetBytes(r.s)
		}
	}
	return nil
}

// Builtin reports whether t is one of the built-in types a scalar is stored
// in directly (bool, int, int64, int32, uint64, uint32, uint, float64, string,
// []byte): no pointers to follow, no methods of its own decoding.
func Builtin(t reflect.Type) bool {
	switch t {
	case boolType, intType, int64Type, int32Type, uint64Type, uint32Type, uintType, float64Type, stringType, bytesType:
		return true
	}
	return false
}

// ReadScalarInto reads the scalar of kind sk (the kind byte read; not a
// record) into dst, an addressable zero value of a Builtin type, so that
// the caller chooses where the value lives. A value that does not fit is
// reported as misfit, with the wire fully consumed.
func (m *Reader) ReadScalarInto(sk byte, dst reflect.Value, maxLen int) (misfit, err error) {
	r, err := m.ReadRaw(sk, true, maxLen)
	if err != nil {
		return nil, err
	}
	return r.setBuiltin(dst), nil
}

// setBuiltin stores r in v, of a Builtin type, or says why it does not fit.
func (r *Scalar) setBuiltin(v reflect.Value) error {
	if !r.Fits(v.Type()) {
		return fmt.Errorf("a %s value does not fit a %s", r.src, v.Type())
	}
	return r.Set(v)
}

// natural returns r as a value of its natural Go type, for an interface.
func (r *Scalar) natural() (reflect.Value, error) {
	v := reflect.New(r.src).Elem()
	if err := r.Set(v); err != nil {
		return reflect.Value{}, err
	}
	return v, nil
}

// placeTop stores r, a whole argument or result, in a new value of type t,
// as gob decodes a value into t: through any pointers (allocated), into a
// type of r's family, never into one that decodes itself (GobDecode,
// UnmarshalBinary, UnmarshalText: gob wants such a value from a sender of
// the same kind). An interface type receives r as its natural Go type
// (int, int64, int32, uint64, uint, uint32, float64, string, []byte,
// bool), as gob would have carried it sent as that interface.
func (r *Scalar) placeTop(t reflect.Type, rc *Targets) error {
	if Builtin(t) {
		v := reflect.New(t).Elem()
		if err := r.setBuiltin(v); err != nil {
			return err
		}
		r.out = v
		return nil
	}
	ti := rc.Target(t)
	v := reflect.New(t).Elem()
	dst := AllocPointers(v, ti.Ptrs)
	switch {
	case ti.decodes:
		return fmt.Errorf("a %s value does not fit a %s, which decodes itself", r.src, t)
	case ti.Base.Kind() == reflect.Interface:
		x, err := r.natural()
		if err != nil {
			return err
		}
		if !x.Type().Implements(ti.Base) {
			return fmt.Errorf("a %s cannot be a %s", x.Type(), ti.Base)
		}
		dst.Set(x)
	case !r.Fits(ti.Base):
		return fmt.Errorf("a %s value does not fit a %s", r.src, t)
	default:
		if err := r.Set(dst); err != nil {
			return err
		}
	}
	r.out = v
	return nil
}

// AllocPointers fills the n pointers of v's type with new values and returns
// the value at the end of them.
func AllocPointers(v reflect.Value, n int) reflect.Value {
	for range n {
		p := reflect.New(v.Type().Elem())
		v.Set(p)
		v = p.Elem()
	}
	return v
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLarge fills p, yielding the processor between pieces of a large read so
// that goroutines serving small calls are not kept waiting behind the copy.
func (m *Reader) readLarge(p []byte) error {
	const piece = 256 << 10
	for len(p) > piece {
		if _, err := io.ReadFull(m, p[:piece]); err != nil {
			return err
		}
		p = p[piece:]
		runtime.Gosched()
	}
	_, err := io.ReadFull(m, p)
	return err
}
