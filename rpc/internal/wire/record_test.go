package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
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

// TestRecordWire pins the encoding of docs/PROTOCOL.md and reads it back.
func TestRecordWire(t *testing.T) {
	type rec struct {
		A int
		S string
		B bool
		U uint
	}
	v := reflect.ValueOf(rec{A: -2, S: "hi", B: true, U: 300})
	got := AppendRecord(nil, v, planRecord(v.Type()))
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
