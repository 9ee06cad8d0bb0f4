package rpc_test

import (
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// fuzzBytes hands out the fuzzer's bytes as choices, zeros once they run
// out.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) uint64() uint64 {
	var p [8]byte
	n := copy(p[:], f.b)
	f.b = f.b[n:]
	return binary.LittleEndian.Uint64(p[:])
}

// fuzzFieldTypes are the field types random structs are made of.
var fuzzFieldTypes = []reflect.Type{
	typ[bool](), typ[int](), typ[int8](), typ[int16](), typ[int32](), typ[int64](),
	typ[uint](), typ[uint8](), typ[uint16](), typ[uint32](), typ[uint64](),
	typ[float32](), typ[float64](), typ[string](), typ[[]byte](),
	typ[*int](), typ[*string](), typ[**int](), typ[*float64](), typ[*bool](), typ[*uint8](),
	typ[DInt](), typ[DStr](), typ[DGobInt](), typ[time.Duration](), typ[time.Time](),
	typ[[]int](), typ[map[string]int](), typ[[2]int16](), typ[DPlain](), typ[*DPlain](), typ[any](),
}

// fuzzFieldNames are few, so that two random structs share some.
var fuzzFieldNames = []string{"A", "B", "C", "D", "E", "N", "Name"}

// randomStruct builds a struct type of 1 to 6 fields of random names and
// types.
func randomStruct(f *fuzzBytes) reflect.Type {
	n := 1 + int(f.byte()%6)
	var fs []reflect.StructField
	used := map[string]bool{}
	for range n {
		name := fuzzFieldNames[int(f.byte())%len(fuzzFieldNames)]
		if used[name] {
			continue
		}
		used[name] = true
		fs = append(fs, reflect.StructField{Name: name, Type: fuzzFieldTypes[int(f.byte())%len(fuzzFieldTypes)]})
	}
	return reflect.StructOf(fs)
}

// randomValue fills v with values taken from f: zero for some fields, nil
// pointers for some, extremes for some.
func randomValue(f *fuzzBytes, v reflect.Value, depth int) {
	c := f.byte()
	if c%5 == 0 || depth > 3 {
		return // the zero value
	}
	u := f.uint64()
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(u&1 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := int64(u)
		if c%3 == 0 {
			x = int64(int8(u)) // small, fits every width
		}
		if v.Type() == typ[DGobInt]() && x < 0 && c%2 == 0 {
			x = -x
		}
		v.SetInt(x >> (64 - 8*v.Type().Size()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(u >> (64 - 8*v.Type().Size()))
	case reflect.Float32, reflect.Float64:
		x := math.Float64frombits(u)
		if v.Kind() == reflect.Float32 {
			x = float64(math.Float32frombits(uint32(u)))
		}
		if math.IsNaN(x) {
			x = 1.5 // NaN is not equal to itself
		}
		v.SetFloat(x)
	case reflect.String:
		v.SetString(string(f.b[:min(len(f.b), int(c%8))]))
	case reflect.Slice:
		n := int(c % 4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			randomValue(f, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			randomValue(f, v.Index(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range int(c % 3) {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			randomValue(f, k, depth+1)
			randomValue(f, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		randomValue(f, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == typ[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(u%(1<<40)), int64(u%1e9)).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomValue(f, v.Field(i), depth+1)
			}
		}
	case reflect.Interface:
		switch c % 3 {
		case 0:
			v.Set(reflect.ValueOf(DPlain{N: int(int8(u)), Name: "x"}))
		case 1:
			v.Set(reflect.ValueOf(int32(u)))
		default:
			// A type of its own, registered: the lanes have not described
			// it yet, and gob describes it inside the value that holds it.
			t := randomStruct(f)
			x := reflect.New(t).Elem()
			randomValue(f, x, depth+1)
			if registerValue(x) {
				v.Set(x)
			}
		}
	}
}

// registerValue registers x's type with gob under its own name and reports
// whether it could.
func registerValue(x reflect.Value) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	gob.Register(x.Interface())
	return true
}

// FuzzGobDifferential builds random struct types with reflect.StructOf
// (scalar, pointer, self-decoding, collection and interface fields of
// random names) and random values, and checks that each reaches a random
// receiver type through firefly, as an argument and as a result, as it
// would through plain gob (or by the documented extensions). Interface
// fields hold, among others, values of new random struct types, so that
// cases keep meeting types their lane has not described yet.
func FuzzGobDifferential(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 0, 1, 1, 13, 3, 0, 1, 1, 16, 1, 9, 9, 9, 9, 9, 9, 9, 9, 1, 'a', 'b'})
	f.Add([]byte{2, 5, 1, 6, 13, 1, 2, 5, 1, 6, 14, 1, 4, 7, 0, 0, 0, 0, 0, 0, 0, 7, 'f', 'i', 'r', 'e', 'f', 'l', 'y', 0})
	f.Add([]byte{4, 0, 2, 1, 23, 2, 25, 3, 30, 0, 1, 0, 1, 1, 1, 2, 4, 3, 1, 4, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{1, 6, 0, 6, 1, 6, 16, 0, 2, 6, 3, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6})
	f.Add([]byte{5, 0, 7, 1, 8, 2, 31, 3, 29, 4, 26, 5, 0, 0, 7, 1, 8, 2, 31, 3, 29, 4, 26, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18})
	d := &diffRoot{reg: registry.New(registry.Options{}), ms: map[string]*registry.Method{}, got: map[int]reflect.Value{}}
	_, conn := pair(f, d, nil)
	var prev []byte // the case before, which may have broken the connection
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := diffOne(testutil.Context(t), d, conn, data); err != nil {
			t.Fatalf("%v\n(the case before: %q)", err, prev)
		}
		prev = append(prev[:0], data...)
	})
}

// diffOne builds a case from data and sends it through gob and through
// conn, as an argument and as a result; it returns how they differ.
func diffOne(ctx context.Context, d *diffRoot, conn *rpc.Conn, data []byte) error {
	fb := &fuzzBytes{b: data}
	send, recv := randomStruct(fb), randomStruct(fb)
	shape := fb.byte()
	if shape&1 != 0 {
		send = reflect.PointerTo(send)
	}
	if shape&2 != 0 {
		recv = reflect.PointerTo(recv)
	}
	if shape&4 != 0 {
		recv = send // the same type on both sides
	}
	v := reflect.New(send).Elem()
	randomValue(fb, v, 0)
	c := diffCase{name: "fuzz", send: send, val: v, recv: recv}
	d.mu.Lock()
	d.cases = []diffCase{c}
	clear(d.ms)
	d.mu.Unlock()
	g := viaGob(c)
	want, ext := expectedExtension(c, g)
	for _, dir := range []string{"argument", "result"} {
		var got diffOutcome
		if dir == "argument" {
			got = viaArgument(ctx, d, conn, 0)
		} else {
			got = viaResult(ctx, conn, c, 0)
		}
		if got.err != nil && !errors.Is(got.err, rpc.ErrBadArguments) && !errors.Is(got.err, rpc.ErrBadReply) {
			return fmt.Errorf("%s as %s, value %#v, %s: refused with %v", send, recv, v.Interface(), dir, got.err)
		}
		if !agree(want, got) {
			return fmt.Errorf("%s as %s, value %#v, %s:\n  gob (extension %q): %v\n  firefly: %v", send, recv, v.Interface(), dir, ext, want, got)
		}
	}
	return nil
}

// TestGobDifferentialStress runs FIREFLY_DIFF_STRESS random cases of
// FuzzGobDifferential one after the other on one connection (skipped when
// unset): a case whose outcome depends on what the lanes carried before.
func TestGobDifferentialStress(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FIREFLY_DIFF_STRESS"))
	if n == 0 {
		t.Skip("set FIREFLY_DIFF_STRESS to a number of cases")
	}
	d := &diffRoot{reg: registry.New(registry.Options{}), ms: map[string]*registry.Method{}, got: map[int]reflect.Value{}}
	_, conn := pair(t, d, nil)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var prev [][]byte
	for i := range n {
		data := make([]byte, rng.IntN(64))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		prev = append(prev, data)
		if err := diffOne(testutil.Context(t), d, conn, data); err != nil {
			t.Fatalf("case %d: %v\nlast inputs: %q", i, err, prev[max(0, len(prev)-5):])
		}
	}
}
