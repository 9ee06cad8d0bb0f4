package pb

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// Point is the Copyable of PB-WIRE.md §3.3.
type Point struct {
	X int
	Y float64
}

func (Point) CopyableClass() string { return "__main__.Point" }

type Player struct {
	PlayerName string
	ID         int64
	HTTPPort   uint16
	Score      float32  `pb:"points"`
	Secret     string   `pb:"-"`
	Tags       []string `pb:"tags"`
	hidden     int
	Pos        *Point
	Base
}

type Base struct {
	Level int
}

func (p *Player) CopyableClass() string { return "game.models.Player" }

func convertOK[T any](t *testing.T, v any) T {
	t.Helper()
	out, err := convertTo(v, reflect.TypeFor[T]())
	if err != nil {
		t.Fatalf("convertTo(%s, %v): %v", describe(v), reflect.TypeFor[T](), err)
	}
	return out.Interface().(T)
}

func convertErr[T any](t *testing.T, v any, want error, path string) {
	t.Helper()
	_, err := convertTo(v, reflect.TypeFor[T]())
	var ce *ConvertError
	if !errors.As(err, &ce) || !errors.Is(err, want) {
		t.Errorf("convertTo(%s, %v) = %v, want %v", describe(v), reflect.TypeFor[T](), err, want)
		return
	}
	if ce.Path != path {
		t.Errorf("convertTo(%s, %v): path %q, want %q (%v)", describe(v), reflect.TypeFor[T](), ce.Path, path, err)
	}
}

func TestConvertScalars(t *testing.T) {
	if convertOK[int](t, int64(12)) != 12 || convertOK[uint8](t, int64(255)) != 255 || convertOK[int8](t, int64(-128)) != -128 {
		t.Error("ints")
	}
	if convertOK[float64](t, int64(3)) != 3 || convertOK[float32](t, 1.5) != 1.5 || convertOK[float64](t, bigPow2(70)) != math.Ldexp(1, 70) {
		t.Error("floats")
	}
	if convertOK[string](t, "héllo") != "héllo" || convertOK[string](t, []byte("bytes")) != "bytes" {
		t.Error("a Go string takes str and bytes")
	}
	if b := convertOK[*big.Int](t, int64(5)); b.Int64() != 5 {
		t.Error("big from int64")
	}
	if b := convertOK[*big.Int](t, bigPow2(100)); b.Cmp(bigPow2(100)) != 0 {
		t.Error("big from big")
	}
	if convertOK[uint64](t, new(big.Int).SetUint64(math.MaxUint64)) != math.MaxUint64 {
		t.Error("uint64 from a big int")
	}
	if !convertOK[bool](t, true) {
		t.Error("bool")
	}
	if p := convertOK[*int](t, int64(4)); *p != 4 {
		t.Error("pointer")
	}
	if p := convertOK[*int](t, nil); p != nil {
		t.Error("None into a pointer")
	}
	if v := convertOK[any](t, Tuple{int64(1)}); !reflect.DeepEqual(v, Tuple{int64(1)}) {
		t.Error("any keeps the value")
	}
	convertErr[uint8](t, int64(256), ErrOverflow, "")
	convertErr[int8](t, int64(-129), ErrOverflow, "")
	convertErr[uint](t, int64(-1), ErrOverflow, "")
	convertErr[int64](t, bigPow2(63), ErrOverflow, "")
	convertErr[float32](t, 1e300, ErrOverflow, "")
	convertErr[float64](t, new(big.Int).Lsh(big.NewInt(1), 1100), ErrOverflow, "")
	convertErr[int](t, 1.5, ErrMismatch, "")
	convertErr[int](t, true, ErrMismatch, "")
	convertErr[string](t, int64(1), ErrMismatch, "")
	convertErr[[]byte](t, "text", ErrMismatch, "") // bytes vs str
	convertErr[int](t, nil, ErrNone, "")
	convertErr[string](t, nil, ErrNone, "")
	convertErr[error](t, int64(1), ErrMismatch, "")
}

func TestConvertSequences(t *testing.T) {
	l := []any{int64(1), int64(2)}
	for _, v := range []any{l, Tuple(l), Set(l), FrozenSet(l)} {
		if got := convertOK[[]int](t, v); !reflect.DeepEqual(got, []int{1, 2}) {
			t.Errorf("[]int from %s = %v", describe(v), got)
		}
		if got := convertOK[[2]int](t, v); got != [2]int{1, 2} {
			t.Errorf("[2]int from %s = %v", describe(v), got)
		}
		if got := convertOK[[]any](t, v); !reflect.DeepEqual(got, l) {
			t.Errorf("[]any from %s = %v", describe(v), got)
		}
	}
	if got := convertOK[Tuple](t, Tuple(l)); !reflect.DeepEqual(got, Tuple(l)) {
		t.Error("Tuple from a tuple")
	}
	convertErr[Tuple](t, l, ErrMismatch, "") // tuple vs list
	convertErr[Set](t, Tuple(l), ErrMismatch, "")
	convertErr[[3]int](t, l, ErrMismatch, "")
	convertErr[[]int](t, []any{int64(1), []byte("x")}, ErrMismatch, "[1]")
	if b := convertOK[[]byte](t, []byte("ab")); string(b) != "ab" {
		t.Error("[]byte")
	}
	if b := convertOK[[2]byte](t, []byte("ab")); b != [2]byte{'a', 'b'} {
		t.Error("[2]byte")
	}
	if got := convertOK[[]string](t, nil); got != nil {
		t.Error("None into a slice")
	}
}

func TestConvertMaps(t *testing.T) {
	d := &Dict{Items: []DictItem{{"a", int64(1)}, {[]byte("b"), int64(2)}}}
	if got := convertOK[map[string]int](t, d); !reflect.DeepEqual(got, map[string]int{"a": 1, "b": 2}) {
		t.Errorf("map[string]int = %v", got)
	}
	convertErr[map[string]int](t, &Dict{Items: []DictItem{{"a", "x"}}}, ErrMismatch, `["a"]`)
	// A tuple key fits no Go map key, not even any.
	convertErr[map[any]int](t, &Dict{Items: []DictItem{{Tuple{int64(1)}, int64(1)}}}, ErrMismatch, "[key]")
	convertErr[map[string]int](t, []any{}, ErrMismatch, "")
	if got := convertOK[map[int]string](t, &Dict{Items: []DictItem{{int64(3), "c"}}}); got[3] != "c" {
		t.Error("int keys")
	}
}

func TestConvertCopyables(t *testing.T) {
	// The state Twisted 22.4 sends for Point(1, 2.5) (PB-WIRE.md §11).
	sexp := parseExpr(t, "['__main__.Point', ['dictionary', [['unicode', 'x'], 1], [['unicode', 'y'], 2.5]]]")
	v, err := unjelly(sexp, nil, defaultBananaLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p := convertOK[Point](t, v); p != (Point{1, 2.5}) {
		t.Errorf("Point = %+v", p)
	}
	if p := convertOK[*Point](t, v); *p != (Point{1, 2.5}) {
		t.Errorf("*Point = %+v", p)
	}
	// And back: the same expression, byte for byte.
	out, err := jelly(Point{1, 2.5}, nil, false)
	if err != nil || formatExpr(out) != formatExpr(sexp) {
		t.Errorf("jelly(Point) = %s, %v; want %s", formatExpr(out), err, formatExpr(sexp))
	}
	// Python 2 sends bytes keys.
	py2 := &Instance{Class: "__main__.Point", State: &Dict{Items: []DictItem{{[]byte("x"), int64(3)}}}}
	if p := convertOK[Point](t, py2); p != (Point{X: 3}) {
		t.Errorf("py2 Point = %+v", p)
	}
	convertErr[Point](t, &Instance{Class: "__main__.Other", State: &Dict{}}, ErrUnknownClass, "")
	convertErr[Base](t, &Instance{Class: "__main__.Point", State: &Dict{}}, ErrUnknownClass, "")
	convertErr[Point](t, &Dict{Items: []DictItem{{"x", "one"}}}, ErrMismatch, ".x")
	if p := convertOK[Point](t, &Dict{Items: []DictItem{{"y", 0.5}}}); p != (Point{Y: 0.5}) {
		t.Error("a Copyable struct also takes a dict")
	}

	pl := &Player{PlayerName: "Ann", ID: 7, HTTPPort: 8080, Score: 1.5, Secret: "s", Tags: []string{"a"},
		hidden: 1, Pos: &Point{1, 2}, Base: Base{Level: 3}}
	out, err = jelly(pl, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "['game.models.Player', ['dictionary', [['unicode', 'playerName'], ['unicode', 'Ann']], " +
		"[['unicode', 'id'], 7], [['unicode', 'httpPort'], 8080], [['unicode', 'points'], 1.5], " +
		"[['unicode', 'tags'], ['list', ['unicode', 'a']]], " +
		"[['unicode', 'pos'], ['__main__.Point', ['dictionary', [['unicode', 'x'], 1], [['unicode', 'y'], 2.0]]]], " +
		"[['unicode', 'level'], 3]]]"
	if got := formatExpr(out); got != want {
		t.Errorf("jelly(Player):\n got %s\nwant %s", got, want)
	}
	// Snake-case attributes of a Python class fill the same fields.
	snake := &Instance{Class: "game.models.Player", State: &Dict{Items: []DictItem{
		{"player_name", []byte("Bob")}, {"id", int64(9)}, {"http_port", int64(1)}, {"points", int64(2)},
		{"secret", "no"}, {"unknown", int64(1)}, {"level", int64(4)},
	}}}
	got := convertOK[Player](t, snake)
	if got.PlayerName != "Bob" || got.ID != 9 || got.HTTPPort != 1 || got.Score != 2 || got.Secret != "" || got.Level != 4 {
		t.Errorf("Player from snake_case = %+v", got)
	}
	convertErr[Player](t, &Instance{Class: "game.models.Player", State: &Dict{Items: []DictItem{{"http_port", int64(70000)}}}},
		ErrOverflow, ".httpPort")
	convertErr[Player](t, &Instance{Class: "game.models.Player", State: &Dict{Items: []DictItem{{"pos", &Instance{Class: "a.B"}}}}},
		ErrUnknownClass, ".pos")
}

func TestConvertFailure(t *testing.T) {
	f := &Failure{Type: "builtins.ValueError", Value: "bad"}
	if got := convertOK[Failure](t, f); !reflect.DeepEqual(got, *f) {
		t.Errorf("Failure = %+v", got)
	}
	if got := convertOK[*Failure](t, f); got != f {
		t.Error("*Failure")
	}
	if got := convertOK[error](t, f); got != error(f) {
		t.Error("a Failure is an error")
	}
}

func TestFromGo(t *testing.T) {
	type small struct {
		A int
		B []byte
	}
	v, err := fromGo(reflect.ValueOf(map[string]any{
		"z": uint64(math.MaxUint64), "a": []int{1}, "m": small{A: 1}, "n": (*int)(nil), "s": "x",
		"arr": [2]byte{1, 2}, "f": float32(0.5), "nilslice": []int(nil),
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	var keys []string
	for _, it := range d.Items {
		keys = append(keys, it.Key.(string))
	}
	if strings.Join(keys, ",") != "a,arr,f,m,n,nilslice,s,z" {
		t.Errorf("keys not sorted: %v", keys)
	}
	want := map[string]any{
		"z": new(big.Int).SetUint64(math.MaxUint64), "a": []any{int64(1)},
		"m": &Dict{Items: []DictItem{{"a", int64(1)}, {"b", []byte{}}}}, "n": nil, "s": "x",
		"arr": []byte{1, 2}, "f": 0.5, "nilslice": []any{},
	}
	for _, it := range d.Items {
		if !jellyEqual(it.Value, want[it.Key.(string)]) {
			t.Errorf("fromGo[%s] = %#v, want %#v", it.Key, it.Value, want[it.Key.(string)])
		}
	}
	v, err = fromGo(reflect.ValueOf(small{A: 2}), true)
	if err != nil || !jellyEqual(v, &Dict{Items: []DictItem{{[]byte("a"), int64(2)}, {[]byte("b"), []byte{}}}}) {
		t.Errorf("py2 struct: %#v, %v", v, err)
	}
	if _, err := fromGo(reflect.ValueOf(make(chan int)), false); !errors.Is(err, ErrUnsendable) {
		t.Errorf("chan: %v", err)
	}
}

func TestLowerCamel(t *testing.T) {
	for in, want := range map[string]string{
		"PlayerName": "playerName", "ID": "id", "HTTPPort": "httpPort", "X": "x", "already": "already", "URLs": "urLs",
	} {
		if got := lowerCamel(in); got != want {
			t.Errorf("lowerCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

// A shared list copied into a typed slice for every dereference would need
// 655,360 x 655,360 ints from some 4 MB on the wire; a cycle into a
// recursive type would never end. Both stop with ErrTooLarge.
func TestConvertSharedAndCyclic(t *testing.T) {
	shared := make([]any, bananaSizeLimit)
	for i := range shared {
		shared[i] = int64(i)
	}
	outer := make([]any, bananaSizeLimit)
	for i := range outer {
		outer[i] = shared
	}
	convertErr[[][]int](t, outer, ErrTooLarge, "[3][131067]")
	// The same value fits an any, and a []any of []any, as it is.
	if got := convertOK[[][]any](t, outer[:4]); len(got) != 4 || &got[0][0] != &shared[0] {
		t.Error("[][]any copied the shared list")
	}

	type node struct{ Next []node }
	d := &Dict{}
	d.Items = []DictItem{{"next", []any{d}}}
	convertErr[node](t, d, ErrTooLarge, pathOfDepth(jellyDepthLimit))
	type ptr *ptr
	convertErr[ptr](t, int64(1), ErrTooLarge, "")
}

// pathOfDepth is the path where node's conversion passes the depth cap.
func pathOfDepth(n int) string {
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			b.WriteString(".next")
		} else {
			b.WriteString("[0]")
		}
	}
	return b.String()
}

// A cyclic tuple used as a dict key is named by its type in errors, never
// printed.
func TestConvertCyclicKey(t *testing.T) {
	l := make([]any, 1)
	key := Tuple{l}
	l[0] = key
	d := &Dict{Items: []DictItem{{key, "x"}}}
	convertErr[map[string]int](t, d, ErrMismatch, "[key]")
	convertErr[map[int64]int](t, &Dict{Items: []DictItem{{int64(1), "x"}}}, ErrMismatch, "[1]")
	convertErr[map[any]int](t, &Dict{Items: []DictItem{{FrozenSet{int64(1)}, "x"}}}, ErrMismatch, "[key]")
	if got := keyString(key); got != "<tuple>" {
		t.Errorf("keyString = %q", got)
	}
}
