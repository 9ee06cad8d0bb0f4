package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
)

// Scalars — booleans, integers, floats, strings and byte slices of the
// built-in types — travel inline in the envelope as kindScalar, not through
// gob: they are the commonest arguments and results, and this spares them
// gob's per-message buffer, type lookups and, for []byte, a copy. The kind
// byte after kindScalar says which encoding follows (see docs/PROTOCOL.md).
const (
	scalarBool   byte = 1 // one byte, 0 or 1
	scalarInt    byte = 2 // zig-zag varint
	scalarUint   byte = 3 // uvarint
	scalarFloat  byte = 4 // 8 bytes, IEEE 754 binary64, big-endian
	scalarString byte = 5 // uvarint length, bytes
	scalarBytes  byte = 6 // uvarint length, bytes
)

// appendScalar appends v's inline encoding if v is a built-in scalar.
func appendScalar(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case int:
		return binary.AppendVarint(append(b, kindScalar, scalarInt), int64(x)), true
	case int64:
		return binary.AppendVarint(append(b, kindScalar, scalarInt), x), true
	case int32:
		return binary.AppendVarint(append(b, kindScalar, scalarInt), int64(x)), true
	case uint64:
		return binary.AppendUvarint(append(b, kindScalar, scalarUint), x), true
	case uint32:
		return binary.AppendUvarint(append(b, kindScalar, scalarUint), uint64(x)), true
	case uint:
		return binary.AppendUvarint(append(b, kindScalar, scalarUint), uint64(x)), true
	case bool:
		c := byte(0)
		if x {
			c = 1
		}
		return append(b, kindScalar, scalarBool, c), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, kindScalar, scalarFloat), math.Float64bits(x)), true
	case string:
		return appendString(append(b, kindScalar, scalarString), x), true
	case []byte:
		if x == nil {
			return b, false
		}
		b = binary.AppendUvarint(append(b, kindScalar, scalarBytes), uint64(len(x)))
		return append(b, x...), true
	}
	return b, false
}

// tailMin is the size from which a byte slice that ends a message is
// written straight from the caller's memory instead of being copied into the
// lane's buffer first.
const tailMin = 32 << 10

// appendBytesHeader appends the inline header of a byte slice scalar whose
// bytes follow as the message's tail.
func appendBytesHeader(b []byte, n int) []byte {
	return binary.AppendUvarint(append(b, kindScalar, scalarBytes), uint64(n))
}

// isScalar reports whether appendScalar encodes v inline.
func isScalar(v any) bool {
	switch x := v.(type) {
	case int, int64, int32, uint64, uint32, uint, bool, float64, string:
		return true
	case []byte:
		return x != nil
	}
	return false
}

// scalarValue returns a result value as an interface for appendScalar when
// its type is exactly a built-in scalar type.
func scalarValue(v reflect.Value) (any, bool) {
	switch v.Type() {
	case intType, int64Type, int32Type, uint64Type, uint32Type, uintType, boolType, float64Type, stringType, bytesType:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, false
		}
		return v.Interface(), true
	}
	return nil, false
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
// (t nil: read and drop it). A value that does not fit t (another kind, or out
// of range) is reported as misfit, with the wire fully consumed. Records are
// decoded into t's fields by name (rc remembers the fields of the struct
// types seen).
func (m *msgReader) readScalar(t reflect.Type, maxLen int, rc *recordCache) (v reflect.Value, misfit error, err error) {
	sk, err := m.ReadByte()
	if err != nil {
		return v, nil, err
	}
	return m.readScalarKind(sk, t, maxLen, rc)
}

// readScalarKind is readScalar once the scalar kind byte sk is read.
func (m *msgReader) readScalarKind(sk byte, t reflect.Type, maxLen int, rc *recordCache) (v reflect.Value, misfit error, err error) {
	if sk == scalarRecord {
		return m.readRecordAs(t, reflect.Value{}, maxLen, rc)
	}
	if t != nil {
		v = reflect.New(t).Elem()
	}
	if misfit, err = m.fill(sk, v, maxLen); misfit != nil || err != nil {
		return reflect.Value{}, misfit, err
	}
	return v, nil, nil
}

// firstErr returns the first non-nil error of a and b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// fill reads the encoding of a scalar of kind sk (the kind byte read) and
// stores it in v, which is addressable (v invalid: read and drop it).
func (m *msgReader) fill(sk byte, v reflect.Value, maxLen int) (misfit error, err error) {
	var t reflect.Type
	if v.IsValid() {
		t = v.Type()
	}
	var (
		i   int64
		u   uint64
		f   float64
		s   []byte
		src reflect.Type
	)
	switch sk {
	case scalarBool:
		c, err := m.ReadByte()
		if err != nil {
			return nil, err
		}
		if c > 1 {
			return nil, protocolErrorf("boolean byte %d", c)
		}
		u, src = uint64(c), boolType
	case scalarInt:
		if i, err = binary.ReadVarint(m); err != nil {
			return nil, eof(err)
		}
		src = int64Type
	case scalarUint:
		if u, err = m.uvarint(); err != nil {
			return nil, err
		}
		src = uint64Type
	case scalarFloat:
		var b [8]byte
		if _, err := io.ReadFull(m, b[:]); err != nil {
			return nil, eof(err)
		}
		f, src = math.Float64frombits(binary.BigEndian.Uint64(b[:])), float64Type
	case scalarString, scalarBytes:
		n, err := m.uvarint()
		if err != nil {
			return nil, err
		}
		if n > uint64(m.n) || n > uint64(maxLen) {
			return nil, protocolErrorf("%d-byte string does not fit the message", n)
		}
		if t == nil {
			_, err = io.CopyN(io.Discard, m, int64(n))
			return nil, eof(err)
		}
		s = make([]byte, n)
		if err := m.readLarge(s); err != nil {
			return nil, eof(err)
		}
		src = bytesType
		if sk == scalarString {
			src = stringType
		}
	default:
		return nil, protocolErrorf("unknown scalar kind %d", sk)
	}
	if t == nil {
		return nil, nil
	}
	if t.Kind() == reflect.Interface {
		var x any
		switch src {
		case boolType:
			x = u == 1
		case int64Type:
			x = int(i)
		case uint64Type:
			x = u
		case float64Type:
			x = f
		case stringType:
			x = string(s)
		case bytesType:
			x = s
		}
		xv := reflect.ValueOf(x)
		if !xv.Type().AssignableTo(t) {
			return fmt.Errorf("a %s cannot be a %s", xv.Type(), t), nil
		}
		v.Set(xv)
		return nil, nil
	}
	k := t.Kind()
	fit := false
	switch src {
	case boolType:
		if fit = k == reflect.Bool; fit {
			v.SetBool(u == 1)
		}
	case int64Type:
		switch {
		case k >= reflect.Int && k <= reflect.Int64:
			fit = !v.OverflowInt(i)
			v.SetInt(i)
		case k >= reflect.Uint && k <= reflect.Uintptr:
			fit = i >= 0 && !v.OverflowUint(uint64(i))
			v.SetUint(uint64(i))
		}
	case uint64Type:
		switch {
		case k >= reflect.Uint && k <= reflect.Uintptr:
			fit = !v.OverflowUint(u)
			v.SetUint(u)
		case k >= reflect.Int && k <= reflect.Int64:
			fit = u <= math.MaxInt64 && !v.OverflowInt(int64(u))
			v.SetInt(int64(u))
		}
	case float64Type:
		if fit = k == reflect.Float64 || (k == reflect.Float32 && !v.OverflowFloat(f)); fit {
			v.SetFloat(f)
		}
	case stringType:
		if fit = k == reflect.String; fit {
			v.SetString(string(s))
		}
	case bytesType:
		if fit = k == reflect.Slice && t.Elem().Kind() == reflect.Uint8; fit {
			v.SetBytes(s)
		}
	}
	if !fit {
		return fmt.Errorf("a %s value does not fit a %s", src, t), nil
	}
	return nil, nil
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLarge fills p, yielding the processor between pieces of a large read so
// that goroutines serving small calls are not kept waiting behind the copy.
func (m *msgReader) readLarge(p []byte) error {
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
