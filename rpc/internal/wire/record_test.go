package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestPlanRecord(t *testing.T) {
	type ok struct {
		A int
		B string
		C bool
		D float32
		E uint8
	}
	type unexported struct {
		A int
		b int
	}
	_ = unexported{A: 1, b: 2}
	type slice struct{ A []int }
	type nested struct{ A ok }
	type embedded struct{ ok }
	type empty struct{}
	for _, c := range []struct {
		t    reflect.Type
		want bool
	}{
		{reflect.TypeFor[ok](), true},
		{reflect.TypeFor[unexported](), false},
		{reflect.TypeFor[slice](), false},
		{reflect.TypeFor[nested](), false},
		{reflect.TypeFor[embedded](), false},
		{reflect.TypeFor[empty](), false},
		{reflect.TypeFor[time.Time](), false}, // marshals itself
		{reflect.TypeFor[int](), false},
	} {
		if got := planRecord(c.t) != nil; got != c.want {
			t.Errorf("planRecord(%s) = %v, want %v", c.t, got, c.want)
		}
	}
}

// TestPlansAlternateTypes asks one Plans for the plans of two record types
// and a struct that is not a record, in turn and from several goroutines:
// each type gets its own plan every time, past the memo of the last type.
func TestPlansAlternateTypes(t *testing.T) {
	type one struct{ A int }
	type two struct {
		S string
		B bool
	}
	type notRecord struct{ A []int }
	var ps Plans
	values := []any{one{A: 1}, &two{S: "x"}, notRecord{}, two{}, one{}}
	fields := []int{1, 2, -1, 2, 1} // -1: no plan
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				k := i % len(values)
				r := ps.RecordOf(values[k])
				switch {
				case fields[k] < 0 && r.OK():
					t.Errorf("%T has a plan", values[k])
					return
				case fields[k] >= 0 && (!r.OK() || len(r.p.fields) != fields[k]):
					t.Errorf("%T: plan %v", values[k], r.p)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := testing.AllocsPerRun(100, func() { ps.RecordOf(one{}) }); got != 0 {
		t.Errorf("a remembered plan: %v allocations", got)
	}
}

// TestRecordWire pins the encoding of docs/PROTOCOL.md and reads it back.
func TestRecordWire(t *testing.T) {
	type rec struct {
		A int
		S string
		B bool
		U uint
	}
	v := reflect.ValueOf(rec{A: -2, S: "hi", B: true, U: 300})
	got := AppendRecord(nil, Record{unsafe.Pointer(&rec{A: -2, S: "hi", B: true, U: 300}), planRecord(v.Type())})
	want := []byte{
		KindScalar, ScalarRecord, 4,
		1, 'A', scalarInt, 3, // zig-zag -2
		1, 'S', scalarString, 2, 'h', 'i',
		1, 'B', scalarBool, 1,
		1, 'U', scalarUint, 0xac, 0x02,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding\n got %v\nwant %v", got, want)
	}

	var rc Targets
	m := Reader{r: bytes.NewReader(got[1:]), n: len(got) - 1}
	out, misfit, err := m.readScalar(v.Type(), 1<<20, &rc)
	if err != nil || misfit != nil {
		t.Fatalf("readScalar: %v, %v", misfit, err)
	}
	if out.Interface() != v.Interface() {
		t.Fatalf("read back %+v, want %+v", out.Interface(), v.Interface())
	}
	if m.n != 0 {
		t.Fatalf("%d bytes left", m.n)
	}

	// Violations: too many fields; a field that is not a plain scalar.
	for _, bad := range [][]byte{
		{ScalarRecord, maxRecordFields + 1},
		{ScalarRecord, 1, 1, 'A', scalarBytes, 0},
		{ScalarRecord, 1, 1, 'A', ScalarRecord, 0},
	} {
		m := Reader{r: bytes.NewReader(bad), n: len(bad)}
		if _, _, err := m.readScalar(v.Type(), 1<<20, &rc); !errors.Is(err, ErrProtocol) {
			t.Errorf("readScalar(%v) = %v, want a protocol violation", bad, err)
		}
	}
}

// TestRecordEveryKind encodes a record with a field of each kind a record
// may hold, by value and through a pointer, from an interface as callers pass
// it, and checks each field's value against what reflect reads, by decoding
// the encoding back into the same type.
func TestRecordEveryKind(t *testing.T) {
	type every struct {
		B   bool
		I   int
		I8  int8
		I16 int16
		I32 int32
		I64 int64
		U   uint
		U8  uint8
		U16 uint16
		U32 uint32
		U64 uint64
		F32 float32
		F64 float64
		S   string
	}
	want := every{true, -1 << 40, -100, -30000, -1 << 30, -1 << 62, 1 << 40, 200, 60000, 1 << 31, 1 << 63, 1.5, -2.25, "ok"}
	var ps Plans
	var e Encoder
	for _, a := range []any{want, &want} {
		for name, r := range map[string]Record{"Plans": ps.RecordOf(a), "Encoder": e.RecordOf(a)} {
			if !r.OK() {
				t.Fatalf("%s.RecordOf(%T): no record", name, a)
			}
			b := AppendRecord(nil, r)
			var rc Targets
			m := Reader{r: bytes.NewReader(b[1:]), n: len(b) - 1}
			out, misfit, err := m.readScalar(reflect.TypeFor[every](), 1<<20, &rc)
			if err != nil || misfit != nil {
				t.Fatalf("%s, %T: readScalar: %v, %v", name, a, misfit, err)
			}
			if got := out.Interface().(every); got != want {
				t.Errorf("%s, %T: read back %+v, want %+v", name, a, got, want)
			}
		}
	}
	for _, a := range []any{nil, 1, (*every)(nil), []int{1}, struct{ P *int }{}} {
		if ps.RecordOf(a).OK() || e.RecordOf(a).OK() {
			t.Errorf("RecordOf(%#v) is a record", a)
		}
	}
}

func TestTypeMemo(t *testing.T) {
	var tm TypeMemo[string]
	calls := map[reflect.Type]int{}
	f := func(t reflect.Type) string { calls[t]++; return t.String() }
	types := []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[string](), reflect.TypeFor[int](), reflect.TypeFor[int](), reflect.TypeFor[[]byte](), reflect.TypeFor[string]()}
	for _, typ := range types {
		if got := tm.Get(typ, f); got != typ.String() {
			t.Fatalf("Get(%v) = %q", typ, got)
		}
	}
	for typ, n := range calls {
		if n != 1 {
			t.Errorf("%v computed %d times, want once", typ, n)
		}
	}
	if len(calls) != 3 {
		t.Errorf("%d types computed, want 3", len(calls))
	}
}

// TestRecordIntoFieldsInPlace: a record whose fields come in the struct's
// order (names compared in place, ints set directly) decodes as one in
// another order, an int that overflows its field is a misfit either way,
// and fields the fast path does not take (promoted, through a pointer)
// still decode.
func TestRecordIntoFieldsInPlace(t *testing.T) {
	type inner struct{ P int }
	type dst struct {
		A int
		B int8
		S string
		Q *int
		inner
	}
	field := func(name string, sk byte, v ...byte) []byte {
		return append(append([]byte{byte(len(name))}, name...), append([]byte{sk}, v...)...)
	}
	record := func(fields ...[]byte) []byte {
		b := []byte{ScalarRecord, byte(len(fields))}
		for _, f := range fields {
			b = append(b, f...)
		}
		return b
	}
	a := field("A", scalarInt, 0x83, 0x01) // zig-zag -66
	b := field("B", scalarInt, 10)         // 5
	s := field("S", scalarString, 2, 'h', 'i')
	q := field("Q", scalarInt, 14) // 7
	p := field("P", scalarInt, 6)  // 3
	zero := field("A", scalarInt, 0)
	big := field("B", scalarInt, 0x80, 0x02) // 128: overflows an int8
	seven := 7
	want := dst{A: -66, B: 5, S: "hi", Q: &seven, inner: inner{P: 3}}
	read := func(wire []byte) (dst, error, error) {
		var rc Targets
		m := Reader{buf: wire, n: len(wire)}
		out, misfit, err := m.readScalar(reflect.TypeFor[dst](), 1<<20, &rc)
		if err != nil || misfit != nil {
			return dst{}, misfit, err
		}
		if m.n != 0 {
			t.Fatalf("%d bytes left", m.n)
		}
		return out.Interface().(dst), nil, nil
	}
	for _, order := range [][][]byte{{a, b, s, q, p}, {p, q, s, b, a}, {b, a, p, s, q}} {
		got, misfit, err := read(record(order...))
		if err != nil || misfit != nil {
			t.Fatalf("read: %v, %v", misfit, err)
		}
		if got.A != want.A || got.B != want.B || got.S != want.S || got.Q == nil || *got.Q != 7 || got.P != 3 {
			t.Errorf("read %+v (Q %v), want %+v", got, got.Q, want)
		}
	}
	if got, misfit, err := read(record(zero)); err != nil || misfit != nil || got != (dst{}) {
		t.Errorf("zero A: %+v, %v, %v", got, misfit, err)
	}
	for _, order := range [][][]byte{{a, big}, {big, a}} {
		_, misfit, err := read(record(order...))
		if err != nil || misfit == nil || misfit.Error() != "field B: 128 overflows a int8" {
			t.Errorf("overflowing B: misfit %v, err %v; want field B: 128 overflows a int8", misfit, err)
		}
	}
}

// TestRecordIntFieldBounds: an int stored straight into a signed field of
// each size takes the field's bounds and is a misfit one past them, with the
// field left as it was.
func TestRecordIntFieldBounds(t *testing.T) {
	type dst struct {
		I8  int8
		I16 int16
		I32 int32
		I64 int64
		I   int
	}
	read := func(name string, v int64) (dst, error) {
		b := []byte{ScalarRecord, 1, byte(len(name))}
		b = append(b, name...)
		b = binary.AppendVarint(append(b, scalarInt), v)
		var rc Targets
		m := Reader{buf: b, n: len(b)}
		out, misfit, err := m.readScalar(reflect.TypeFor[dst](), 1<<20, &rc)
		if err != nil {
			t.Fatalf("%s = %d: %v", name, v, err)
		}
		if m.n != 0 {
			t.Fatalf("%s = %d: %d bytes left", name, v, m.n)
		}
		if misfit != nil {
			return dst{}, misfit
		}
		return out.Interface().(dst), nil
	}
	for _, c := range []struct {
		name     string
		min, max int64
	}{
		{"I8", math.MinInt8, math.MaxInt8},
		{"I16", math.MinInt16, math.MaxInt16},
		{"I32", math.MinInt32, math.MaxInt32},
		{"I64", math.MinInt64, math.MaxInt64},
		{"I", math.MinInt, math.MaxInt},
	} {
		for _, v := range []int64{c.min, -1, 1, c.max} {
			var want dst
			reflect.ValueOf(&want).Elem().FieldByName(c.name).SetInt(v)
			if got, misfit := read(c.name, v); misfit != nil || got != want {
				t.Errorf("%s = %d: got %+v, misfit %v; want %+v", c.name, v, got, misfit, want)
			}
		}
		if c.max == math.MaxInt64 {
			continue
		}
		for _, v := range []int64{c.min - 1, c.max + 1} {
			if _, misfit := read(c.name, v); misfit == nil || !strings.Contains(misfit.Error(), "overflows") {
				t.Errorf("%s = %d: misfit %v, want an overflow", c.name, v, misfit)
			}
		}
	}
}
