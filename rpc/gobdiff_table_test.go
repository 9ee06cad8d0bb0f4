package rpc_test

import (
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Types of the differential table.
type (
	DInt   int
	DStr   string
	DBytes []byte
	DPlain struct {
		N    int
		Name string
	}
	DPtr struct {
		N    int
		Name *string
	}
	DPtrPtr struct {
		N    **int
		Name string
	}
	DPartial struct {
		Name  string
		Extra float64
	}
	DNoCommon struct{ Q int }
	DSizes    struct {
		N    int8
		Name string
	}
	DUnsigned struct {
		N    uint
		Name string
	}
	DFloat struct {
		N    float64
		Name string
	}
	DEmbed struct {
		DPlain
		X int
	}
	DEmbedPtr struct {
		*DPlain
		X int
	}
	DHidden struct {
		N    int
		Name string
		hid  int
	}
	DTimes struct {
		T time.Time
		D time.Duration
	}
	DColl struct {
		A  [3]int
		S  []string
		M  map[string]int
		MK map[DKey]string
		B  []byte
	}
	DKey  struct{ K, L int }
	DList struct {
		V    int
		Next *DList
	}
	DIface struct {
		X any
		N int
	}
	DPtrs struct{ P []*DPlain }
	DAll  struct {
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
	DAllPtr struct {
		B   *bool
		I   *int
		I8  *int8
		I16 *int16
		I32 *int32
		I64 *int64
		U   *uint
		U8  *uint8
		U16 *uint16
		U32 *uint32
		U64 *uint64
		F32 *float32
		F64 *float64
		S   *string
	}
)

func (p DPlain) String() string { return p.Name }

// DGob encodes itself and refuses negative values when it decodes.
type DGob struct{ N int }

func (g DGob) GobEncode() ([]byte, error) { return []byte(strconv.Itoa(g.N)), nil }
func (g *DGob) GobDecode(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("DGob: bad %q", b)
	}
	g.N = n
	return nil
}

// DGobInt is an int that validates itself when it decodes.
type DGobInt int

func (g DGobInt) GobEncode() ([]byte, error) { return []byte(strconv.Itoa(int(g))), nil }
func (g *DGobInt) GobDecode(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return errors.New("DGobInt: negative")
	}
	*g = DGobInt(n)
	return nil
}

// DBin and DText use the encoding interfaces.
type DBin struct{ N int }

func (b DBin) MarshalBinary() ([]byte, error) { return []byte{byte(b.N)}, nil }
func (b *DBin) UnmarshalBinary(p []byte) error {
	if len(p) != 1 {
		return errors.New("DBin: bad length")
	}
	b.N = int(p[0])
	return nil
}

type DText struct{ S string }

func (t DText) MarshalText() ([]byte, error) { return []byte("<" + t.S + ">"), nil }
func (t *DText) UnmarshalText(p []byte) error {
	if len(p) < 2 || p[0] != '<' {
		return errors.New("DText: bad text")
	}
	t.S = string(p[1 : len(p)-1])
	return nil
}

// DValidated is a struct of scalars that validates itself: a plain
// struct with its field names does not fit it (gob: the sender must encode
// itself too).
type DValidated struct{ N int }

func (v DValidated) GobEncode() ([]byte, error) { return []byte(strconv.Itoa(v.N)), nil }
func (v *DValidated) GobDecode(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n > 100 {
		return errors.New("DValidated: over 100")
	}
	v.N = n
	return nil
}

func init() {
	gob.Register(DPlain{})
	gob.Register(&DList{})
	gob.Register(DKey{})
	gob.Register(map[string]int{})
	gob.Register([]DPlain{})
}

func typ[T any]() reflect.Type { return reflect.TypeFor[T]() }

func ptrTo[T any](v T) *T { return &v }

// diffTable is the differential table: scalars of every kind and width
// into every scalar receiver, named types, pointers at every level,
// structs with partial overlap, embedded and unexported fields, types that
// encode themselves, time, collections, interfaces, recursive and large
// types.
func diffTable() []diffCase {
	var cs []diffCase
	add := func(name string, send reflect.Type, v any, recv reflect.Type) {
		var rv reflect.Value
		if v != nil {
			rv = reflect.ValueOf(v)
			if rv.Type() != send {
				rv = rv.Convert(send)
			}
		}
		cs = append(cs, diffCase{name: name, send: send, val: rv, recv: recv})
	}
	// Scalars of every kind and width into every scalar receiver.
	scalars := []any{
		true, 0, -7, math.MaxInt64, int8(-128), int16(300), int32(-70000), int64(math.MinInt64),
		uint(0), uint(255), uint8(200), uint16(65535), uint32(1 << 31), uint64(math.MaxUint64),
		float32(1.5), 2.25, 1e300, "", "firefly", []byte{}, []byte("bytes"), DInt(5), DStr("s"),
	}
	receivers := []reflect.Type{
		typ[bool](), typ[int](), typ[int8](), typ[int16](), typ[int32](), typ[int64](),
		typ[uint](), typ[uint8](), typ[uint16](), typ[uint32](), typ[uint64](), typ[uintptr](),
		typ[float32](), typ[float64](), typ[string](), typ[[]byte](), typ[DInt](), typ[DStr](), typ[DBytes](),
		typ[*int](), typ[**int](), typ[*string](), typ[*[]byte](), typ[*float64](), typ[*bool](),
		typ[any](), typ[*any](), typ[fmt.Stringer](), typ[DGobInt](), typ[complex128](),
	}
	for _, v := range scalars {
		for _, r := range receivers {
			add(fmt.Sprintf("scalar %T %v", v, v), reflect.TypeOf(v), v, r)
		}
	}
	// Pointers on the sending side.
	for _, r := range []reflect.Type{typ[int](), typ[*int](), typ[**int](), typ[any](), typ[uint]()} {
		add("*int", typ[*int](), ptrTo(3), r)
		add("**int", typ[**int](), ptrTo(ptrTo(-4)), r)
		add("nil *int", typ[*int](), nil, r)
	}
	// Structs: pointer fields, partial overlap, widths, embedding,
	// unexported fields.
	name := "n"
	plain := DPlain{N: 1, Name: "one"}
	structRecv := []reflect.Type{
		typ[DPlain](), typ[*DPlain](), typ[**DPlain](), typ[DPtr](), typ[DPtrPtr](), typ[DPartial](),
		typ[DNoCommon](), typ[DSizes](), typ[DUnsigned](), typ[DFloat](), typ[DEmbed](), typ[DEmbedPtr](),
		typ[DHidden](), typ[DValidated](), typ[DIface](), typ[any](), typ[fmt.Stringer](), typ[int](),
		typ[struct{}](), typ[struct{ Name []byte }](),
	}
	structVals := []struct {
		n string
		t reflect.Type
		v any
	}{
		{"DPlain", typ[DPlain](), plain},
		{"DPlain zero", typ[DPlain](), DPlain{}},
		{"DPlain big N", typ[DPlain](), DPlain{N: 1000, Name: "x"}},
		{"DPlain negative", typ[DPlain](), DPlain{N: -1}},
		{"*DPlain", typ[*DPlain](), &plain},
		{"DPtr", typ[DPtr](), DPtr{N: 2, Name: &name}},
		{"DPtr nil", typ[DPtr](), DPtr{N: 2}},
		{"DPtrPtr", typ[DPtrPtr](), DPtrPtr{N: ptrTo(ptrTo(5)), Name: "pp"}},
		{"DHidden", typ[DHidden](), DHidden{N: 3, Name: "h", hid: 9}},
		{"DEmbed", typ[DEmbed](), DEmbed{DPlain: plain, X: 4}},
		{"DEmbedPtr", typ[DEmbedPtr](), DEmbedPtr{DPlain: &plain, X: 4}},
		{"DUnsigned", typ[DUnsigned](), DUnsigned{N: 7, Name: "u"}},
		{"DFloat", typ[DFloat](), DFloat{N: 7, Name: "f"}},
		{"DSizes", typ[DSizes](), DSizes{N: -8, Name: "s"}},
		{"DValidated", typ[DValidated](), DValidated{N: 5}},
		{"struct with slice", typ[struct {
			N    int
			Name string
			C    []int
		}](), struct {
			N    int
			Name string
			C    []int
		}{N: 1, Name: "c", C: []int{1}}},
	}
	for _, s := range structVals {
		for _, r := range structRecv {
			add(s.n, s.t, s.v, r)
		}
	}
	// All scalar kinds as fields, into pointer fields and back.
	all := DAll{B: true, I: -1, I8: -2, I16: -3, I32: -4, I64: -5, U: 1, U8: 2, U16: 3, U32: 4, U64: 5, F32: 1.5, F64: -2.5, S: "s"}
	for _, r := range []reflect.Type{typ[DAll](), typ[DAllPtr](), typ[*DAllPtr]()} {
		add("DAll", typ[DAll](), all, r)
		add("DAll zero", typ[DAll](), DAll{}, r)
		add("DAllPtr", typ[DAllPtr](), DAllPtr{B: ptrTo(true), I: ptrTo(1), S: ptrTo("p"), F32: ptrTo(float32(2))}, r)
	}
	// Types that encode themselves.
	for _, r := range []reflect.Type{typ[DGob](), typ[*DGob](), typ[DPlain](), typ[any](), typ[int]()} {
		add("DGob", typ[DGob](), DGob{N: 3}, r)
		add("DGob negative", typ[DGob](), DGob{N: -3}, r)
	}
	for _, r := range []reflect.Type{typ[DGobInt](), typ[int](), typ[*DGobInt]()} {
		add("DGobInt", typ[DGobInt](), DGobInt(4), r)
		add("DGobInt negative", typ[DGobInt](), DGobInt(-4), r)
	}
	for _, r := range []reflect.Type{typ[DBin](), typ[*DBin](), typ[DText](), typ[DPlain]()} {
		add("DBin", typ[DBin](), DBin{N: 9}, r)
		add("DText", typ[DText](), DText{S: "t"}, r)
	}
	add("DPlain into DBin", typ[DPlain](), plain, typ[DBin]())
	add("DPlain into DText", typ[DPlain](), plain, typ[DText]())
	// time.Time and time.Duration.
	when := time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC)
	for _, r := range []reflect.Type{typ[time.Time](), typ[*time.Time](), typ[time.Duration](), typ[int64](), typ[any]()} {
		add("time.Time", typ[time.Time](), when, r)
		add("time.Duration", typ[time.Duration](), 3*time.Second, r)
	}
	add("DTimes", typ[DTimes](), DTimes{T: when, D: time.Minute}, typ[DTimes]())
	add("DTimes zero", typ[DTimes](), DTimes{}, typ[DTimes]())
	// Arrays, slices (nil, empty, nil elements), maps (struct keys, nil).
	coll := DColl{A: [3]int{1, 2, 3}, S: []string{"a"}, M: map[string]int{"k": 1}, MK: map[DKey]string{{1, 2}: "v"}, B: []byte{}}
	for _, r := range []reflect.Type{typ[DColl](), typ[*DColl]()} {
		add("DColl", typ[DColl](), coll, r)
		add("DColl zero", typ[DColl](), DColl{}, r)
	}
	colls := []struct {
		n string
		t reflect.Type
		v any
		r []reflect.Type
	}{
		{"[]int", typ[[]int](), []int{1, 2}, []reflect.Type{typ[[]int](), typ[[]int8](), typ[[]uint](), typ[[2]int](), typ[*[]int](), typ[[]*int]()}},
		{"[]int empty", typ[[]int](), []int{}, []reflect.Type{typ[[]int](), typ[*[]int]()}},
		{"[]int nil", typ[[]int](), nil, []reflect.Type{typ[[]int](), typ[*[]int]()}},
		{"[3]int", typ[[3]int](), [3]int{1, 2, 3}, []reflect.Type{typ[[3]int](), typ[[2]int](), typ[[]int]()}},
		{"[]string", typ[[]string](), []string{"a", ""}, []reflect.Type{typ[[]string](), typ[[]*string]()}},
		{"[]*DPlain", typ[[]*DPlain](), []*DPlain{&plain, {N: 2}}, []reflect.Type{typ[[]*DPlain](), typ[[]DPlain](), typ[[]DPtr]()}},
		{"[]*DPlain with nil", typ[[]*DPlain](), []*DPlain{&plain, nil}, []reflect.Type{typ[[]*DPlain](), typ[[]DPlain]()}},
		{"DPtrs with nil", typ[DPtrs](), DPtrs{P: []*DPlain{nil}}, []reflect.Type{typ[DPtrs]()}},
		{"map[string]int", typ[map[string]int](), map[string]int{"a": 1}, []reflect.Type{typ[map[string]int](), typ[map[string]int64](), typ[map[string]uint](), typ[*map[string]int]()}},
		{"map empty", typ[map[string]int](), map[string]int{}, []reflect.Type{typ[map[string]int]()}},
		{"map nil", typ[map[string]int](), nil, []reflect.Type{typ[map[string]int]()}},
		{"map[DKey]DPlain", typ[map[DKey]DPlain](), map[DKey]DPlain{{1, 2}: plain}, []reflect.Type{typ[map[DKey]DPlain](), typ[map[DKey]*DPlain](), typ[map[DKey]DPtr]()}},
		{"[][]byte", typ[[][]byte](), [][]byte{{1}, {}}, []reflect.Type{typ[[][]byte]()}},
	}
	for _, c := range colls {
		for _, r := range c.r {
			add(c.n, c.t, c.v, r)
		}
	}
	// Interfaces with registered types.
	ifaceVals := []struct {
		n string
		v any
	}{{"any DPlain", plain}, {"any *DList", &DList{V: 1}}, {"any map", map[string]int{"a": 1}}, {"any int32", int32(5)}, {"any string", "s"}, {"any nil", nil}, {"any []DPlain", []DPlain{plain}}}
	for _, c := range ifaceVals {
		for _, r := range []reflect.Type{typ[any](), typ[DPlain](), typ[int32](), typ[fmt.Stringer]()} {
			add(c.n, typ[any](), c.v, r)
		}
	}
	add("Stringer DPlain", typ[fmt.Stringer](), plain, typ[fmt.Stringer]())
	add("Stringer DPlain into any", typ[fmt.Stringer](), plain, typ[any]())
	add("DIface", typ[DIface](), DIface{X: plain, N: 1}, typ[DIface]())
	add("DIface nil", typ[DIface](), DIface{N: 1}, typ[DIface]())
	add("DIface unregistered", typ[DIface](), DIface{X: DPartial{}}, typ[DIface]())
	add("any unregistered", typ[any](), DPartial{Name: "u"}, typ[any]())
	// Recursive types.
	list := &DList{V: 1, Next: &DList{V: 2, Next: &DList{V: 3}}}
	add("*DList", typ[*DList](), list, typ[*DList]())
	add("*DList into DList", typ[*DList](), list, typ[DList]())
	add("DList", typ[DList](), *list, typ[*DList]())
	// Large structs, past the inline record's field limit.
	for _, n := range []int{1, 63, 64, 65, 100} {
		fs := make([]reflect.StructField, n)
		for i := range fs {
			fs[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: typ[int]()}
		}
		st := reflect.StructOf(fs)
		v := reflect.New(st).Elem()
		for i := range n {
			v.Field(i).SetInt(int64(i * 3))
		}
		add(fmt.Sprintf("struct of %d ints", n), st, v.Interface(), st)
		half := reflect.StructOf(fs[:(n+1)/2])
		add(fmt.Sprintf("struct of %d ints into %d", n, (n+1)/2), st, v.Interface(), half)
	}
	return cs
}
