package pb

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeRef stands for a broker's reference in tests.
type fakeRef struct {
	kind string
	id   int64
}

type fakeHooks struct {
	remotes, locals []int64
}

func (h *fakeHooks) unjellyRemote(id int64) (any, error) {
	h.remotes = append(h.remotes, id)
	return &fakeRef{"remote", id}, nil
}

func (h *fakeHooks) unjellyLocal(id int64) (any, error) {
	h.locals = append(h.locals, id)
	if id == 99 {
		return nil, errors.New("no such local")
	}
	return &fakeRef{"local", id}, nil
}

// jellyRef sends a fakeRef back: a remote one goes home as local, and a
// local one goes out as remote.
func (h *fakeHooks) jellyRef(v any) (any, bool, error) {
	r, ok := v.(*fakeRef)
	if !ok {
		return nil, false, nil
	}
	if r.kind == "remote" {
		return []any{"local", r.id}, true, nil
	}
	return []any{"remote", r.id}, true, nil
}

// wire jellies v, encodes it in dialect pb, decodes it and returns the
// expression as seed-annotated.txt would print it, and the value unjellied
// from the bytes.
func wire(t *testing.T, v any, h jellyHooks, py2 bool) (string, any) {
	t.Helper()
	sexp, err := jelly(v, h, py2)
	if err != nil {
		t.Fatalf("jelly: %v", err)
	}
	enc, err := appendBanana(nil, sexp, true)
	if err != nil {
		t.Fatalf("appendBanana: %v", err)
	}
	dec, err := decodeAll(t, defaultBananaLimits, enc, true)
	if err != nil || len(dec) != 1 {
		t.Fatalf("decode: %v (%d expressions)", err, len(dec))
	}
	if a, b := formatExpr(sexp), formatExpr(dec[0]); a != b {
		t.Fatalf("Banana changed the expression:\n%s\n%s", a, b)
	}
	back, err := unjelly(dec[0], h, defaultBananaLimits)
	if err != nil {
		t.Fatalf("unjelly %s: %v", formatExpr(dec[0]), err)
	}
	return formatExpr(dec[0]), back
}

// capturedEchoArgs are the arguments of PB-WIRE.md §11's echo call.
func capturedEchoArgs() Tuple {
	x := []any{int64(1), int64(2)}
	return Tuple{
		int64(0), int64(1), int64(127), int64(128), int64(math.MaxInt32), int64(math.MaxInt32 + 1),
		int64(-1), int64(math.MinInt32), int64(math.MinInt32 - 1), bigPow2(64), 1.5, math.Copysign(0, -1),
		[]byte("bytes"), "unicodé", []byte("list"), []any{int64(1), int64(2)}, Tuple{int64(1), int64(2)},
		&Dict{Items: []DictItem{{"a", int64(1)}, {[]byte("b"), []any{nil}}}},
		nil, true, false, Set{int64(3)}, FrozenSet{int64(4)}, x, x, []any{}, Tuple{},
	}
}

// The echo call of PB-WIRE.md §11, as Twisted 22.4 jellied its arguments.
func TestJellyCapturedEcho(t *testing.T) {
	args := capturedEchoArgs()
	want := `['tuple', 0, 1, 127, 128, 2147483647, 2147483648, -1, -2147483648, -2147483649, 18446744073709551616, ` +
		`1.5, -0.0, 'bytes', ['unicode', 'unicod\xc3\xa9'], 'list', ['list', 1, 2], ['tuple', 1, 2], ` +
		`['dictionary', [['unicode', 'a'], 1], ['b', ['list', ['None']]]], ['None'], ['boolean', 'true'], ` +
		`['boolean', 'false'], ['set', 3], ['frozenset', 4], ['reference', 1, ['list', 1, 2]], ['dereference', 1], ` +
		`['list'], ['tuple']]`
	got, back := wire(t, args, nil, false)
	if got != want {
		t.Fatalf("jelly:\n got %s\nwant %s", got, want)
	}
	// b"list" is a vocabulary word and travels as 08 87, as Twisted sends it.
	sexp, _ := jelly([]byte("list"), nil, false)
	if enc, _ := appendBanana(nil, sexp, true); string(enc) != "\x08\x87" {
		t.Errorf("b'list' encodes as % x", enc)
	}
	tup, ok := back.(Tuple)
	if !ok || len(tup) != len(args) {
		t.Fatalf("unjelly gave %#v", back)
	}
	for i := range args {
		if i == 11 { // -0.0
			if f, ok := tup[i].(float64); !ok || !math.Signbit(f) || f != 0 {
				t.Errorf("item 11 = %#v, want -0.0", tup[i])
			}
			continue
		}
		if !jellyEqual(tup[i], args[i]) {
			t.Errorf("item %d = %#v, want %#v", i, tup[i], args[i])
		}
	}
	a, b := tup[23].([]any), tup[24].([]any)
	if &a[0] != &b[0] {
		t.Errorf("the shared list decoded to two copies")
	}
}

// jellyEqual compares Python values without cycles.
func jellyEqual(a, b any) bool {
	switch a := a.(type) {
	case *big.Int:
		b, ok := b.(*big.Int)
		return ok && a.Cmp(b) == 0
	case *Dict:
		b, ok := b.(*Dict)
		if !ok || len(a.Items) != len(b.Items) {
			return false
		}
		for i := range a.Items {
			if !jellyEqual(a.Items[i].Key, b.Items[i].Key) || !jellyEqual(a.Items[i].Value, b.Items[i].Value) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && seqEqual(a, b)
	case Tuple:
		b, ok := b.(Tuple)
		return ok && seqEqual(a, b)
	case Set:
		b, ok := b.(Set)
		return ok && seqEqual(a, b)
	case FrozenSet:
		b, ok := b.(FrozenSet)
		return ok && seqEqual(a, b)
	case []byte:
		b, ok := b.([]byte)
		return ok && string(a) == string(b)
	case *Instance:
		b, ok := b.(*Instance)
		return ok && a.Class == b.Class && jellyEqual(a.State, b.State)
	}
	return reflect.DeepEqual(a, b)
}

func seqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !jellyEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Twisted numbers a shared structure when it sees it the second time.
func TestJellyReferenceNumbering(t *testing.T) {
	x := []any{int64(1)}
	y := []any{int64(2)}
	got, back := wire(t, Tuple{x, y, y, x}, nil, false)
	want := "['tuple', ['reference', 2, ['list', 1]], ['reference', 1, ['list', 2]], ['dereference', 1], ['dereference', 2]]"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	tup := back.(Tuple)
	if &tup[0].([]any)[0] != &tup[3].([]any)[0] || &tup[1].([]any)[0] != &tup[2].([]any)[0] {
		t.Error("shared lists decoded apart")
	}
	d := &Dict{Items: []DictItem{{"k", int64(1)}}}
	got, _ = wire(t, []any{d, d}, nil, false)
	if want := "['list', ['reference', 1, ['dictionary', [['unicode', 'k'], 1]]], ['dereference', 1]]"; got != want {
		t.Fatalf("shared dict: %s", got)
	}
}

func TestJellyCycles(t *testing.T) {
	l := make([]any, 2)
	l[0] = int64(7)
	l[1] = l
	got, back := wire(t, l, nil, false)
	if want := "['reference', 1, ['list', 7, ['dereference', 1]]]"; got != want {
		t.Fatalf("cyclic list: %s", got)
	}
	bl := back.([]any)
	if inner := bl[1].([]any); &inner[0] != &bl[0] {
		t.Error("cyclic list did not decode to itself")
	}

	d := &Dict{}
	d.Items = []DictItem{{"self", d}}
	got, back = wire(t, d, nil, false)
	if want := "['reference', 1, ['dictionary', [['unicode', 'self'], ['dereference', 1]]]]"; got != want {
		t.Fatalf("cyclic dict: %s", got)
	}
	if bd := back.(*Dict); bd.Items[0].Value != bd {
		t.Error("cyclic dict did not decode to itself")
	}

	inst := &Instance{Class: "game.Node", State: &Dict{}}
	inst.State.Items = []DictItem{{"parent", inst}}
	got, back = wire(t, Tuple{inst}, nil, false)
	if want := "['tuple', ['reference', 1, ['game.Node', ['dictionary', [['unicode', 'parent'], ['dereference', 1]]]]]]"; got != want {
		t.Fatalf("cyclic instance: %s", got)
	}
	if bi := back.(Tuple)[0].(*Instance); bi.State.Items[0].Value != bi {
		t.Error("cyclic instance did not decode to itself")
	}
	// A tuple inside a cycle through a list: ([x],) where x holds the tuple.
	tl := make([]any, 1)
	tup := Tuple{tl}
	tl[0] = tup
	got, _ = wire(t, tup, nil, false)
	if want := "['reference', 1, ['tuple', ['list', ['dereference', 1]]]]"; got != want {
		t.Fatalf("cyclic tuple: %s", got)
	}
}

func TestJellyPy2Strings(t *testing.T) {
	v := &Dict{Items: []DictItem{{"name", "Bob"}, {"raw", []byte{0xff}}}}
	got, back := wire(t, v, nil, true)
	if want := `['dictionary', ['name', 'Bob'], ['raw', '\xff']]`; got != want {
		t.Fatalf("py2: %s", got)
	}
	if s, _ := back.(*Dict).Get("name", true); string(s.([]byte)) != "Bob" {
		t.Errorf("py2 str came back as %#v", s)
	}
	// Python 3 refuses to decode invalid UTF-8: such a string is not sent.
	if _, err := jelly("\xff", nil, false); !errors.Is(err, ErrUnsendable) {
		t.Errorf("invalid UTF-8 in py3 mode: %v", err)
	}
	if _, err := jelly("\xff", nil, true); err != nil {
		t.Errorf("invalid UTF-8 in py2 mode: %v", err)
	}
}

// The CopyableFailure of PB-WIRE.md §11 (nosuch()), as Twisted 22.4 sent it.
const capturedFailure = `['twisted.spread.pb.CopyableFailure', ['dictionary', [['unicode', 'count'], 5], ` +
	`[['unicode', 'type'], 'twisted.spread.flavors.NoSuchMethod'], ` +
	`[['unicode', 'value'], ['unicode', 'No such method: remote_nosuch']], ` +
	`[['unicode', 'captureVars'], ['boolean', 'false']], [['unicode', 'frames'], ['list']], ` +
	`[['unicode', 'stack'], ['list']], [['unicode', 'tb'], ['None']], ` +
	`[['unicode', 'parents'], ['list', ['unicode', 'twisted.spread.flavors.NoSuchMethod'], ` +
	`['unicode', 'builtins.AttributeError'], ['unicode', 'builtins.Exception'], ` +
	`['unicode', 'builtins.BaseException'], ['unicode', 'builtins.object']]], ` +
	`[['unicode', 'unsafeTracebacks'], ['boolean', 'false']], ` +
	`[['unicode', 'traceback'], ['unicode', 'Traceback unavailable\n']]]]`

func TestJellyFailure(t *testing.T) {
	f := &Failure{
		Type:  "twisted.spread.flavors.NoSuchMethod",
		Value: "No such method: remote_nosuch",
		Parents: []string{"twisted.spread.flavors.NoSuchMethod", "builtins.AttributeError",
			"builtins.Exception", "builtins.BaseException", "builtins.object"},
	}
	got, back := wire(t, f, nil, false)
	want := strings.Replace(capturedFailure, "'count'], 5]", "'count'], 0]", 1)
	want = strings.ReplaceAll(want, `\n`, `\x0a`)
	if got != want {
		t.Fatalf("failure:\n got %s\nwant %s", got, want)
	}
	bf, ok := back.(*Failure)
	if !ok {
		t.Fatalf("unjelly gave %#v", back)
	}
	f.Traceback = failureNoTraceback
	if !reflect.DeepEqual(bf, f) {
		t.Errorf("round trip: %#v, want %#v", bf, f)
	}
	// Python 2 sends every field as bytes.
	py2, back := wire(t, Failure{Type: "exceptions.ValueError", Value: "bad"}, nil, true)
	if !strings.Contains(py2, "['type', 'exceptions.ValueError'], ['value', 'bad']") ||
		!strings.Contains(py2, "['parents', ['list', 'exceptions.ValueError', 'exceptions.Exception', 'exceptions.BaseException', '__builtin__.object']]") {
		t.Errorf("py2 failure: %s", py2)
	}
	if bf := back.(*Failure); bf.Type != "exceptions.ValueError" || bf.Value != "bad" || len(bf.Parents) != 4 {
		t.Errorf("py2 failure decoded as %#v", bf)
	}
	// Twisted's own failure decodes to the same fields.
	tw, err := unjelly(parseExpr(t, strings.ReplaceAll(capturedFailure, `\n`, `\x0a`)), nil, defaultBananaLimits)
	if err != nil || !reflect.DeepEqual(tw, f) {
		t.Errorf("Twisted's failure decoded as %#v, %v", tw, err)
	}
	// A failure with its fields missing or odd still decodes.
	sexp := []any{[]byte(tagFailure), []any{[]byte("dictionary"),
		[]any{[]byte("value"), int64(3)}}}
	v, err := unjelly(sexp, nil, defaultBananaLimits)
	if err != nil || v.(*Failure).Value != "3" || v.(*Failure).Type != "" {
		t.Errorf("sparse failure: %#v, %v", v, err)
	}
	// A cyclic value field is named, never printed.
	cyc := parseExpr(t, "['twisted.spread.pb.CopyableFailure', ['dictionary', [['unicode', 'value'], "+
		"['reference', 1, ['list', ['dereference', 1]]]]]]")
	v, err = unjelly(cyc, nil, defaultBananaLimits)
	if err != nil || v.(*Failure).Value != "<list>" {
		t.Errorf("cyclic failure value: %#v, %v", v, err)
	}
}

func TestJellyReferenceHooks(t *testing.T) {
	h := &fakeHooks{}
	in := []any{
		[]byte("list"), []any{[]byte("remote"), int64(3)}, []any{[]byte("local"), int64(4)},
		[]any{[]byte("local"), []byte("root")},
	}
	v, err := unjelly(in, h, defaultBananaLimits)
	if err != nil {
		t.Fatal(err)
	}
	l := v.([]any)
	if *l[0].(*fakeRef) != (fakeRef{"remote", 3}) || *l[1].(*fakeRef) != (fakeRef{"local", 4}) ||
		*l[2].(*fakeRef) != (fakeRef{"local", 0}) {
		t.Fatalf("hooks gave %v", l)
	}
	// Hook errors come back as they are.
	if _, err := unjelly([]any{[]byte("local"), int64(99)}, h, defaultBananaLimits); err == nil || err.Error() != "no such local" {
		t.Errorf("hook error: %v", err)
	}
	// jellyRef is asked for values jelly does not know, at any depth, also
	// inside Go structs and maps.
	type holder struct {
		Ref  *fakeRef
		Refs map[string]*fakeRef
	}
	sexp, err := jelly(Tuple{l[0], holder{Ref: l[1].(*fakeRef), Refs: map[string]*fakeRef{"a": l[0].(*fakeRef)}}}, h, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "['tuple', ['local', 3], ['dictionary', [['unicode', 'ref'], ['remote', 4]], " +
		"[['unicode', 'refs'], ['dictionary', [['unicode', 'a'], ['local', 3]]]]]]"
	if got := formatExpr(sexp); got != want {
		t.Errorf("jellyRef:\n got %s\nwant %s", got, want)
	}
	// Without hooks, references are errors.
	if _, err := unjelly([]any{[]byte("remote"), int64(1)}, nil, defaultBananaLimits); !errors.Is(err, ErrProtocol) {
		t.Errorf("remote without hooks: %v", err)
	}
}

func TestUnjellyRejects(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	deep := []any{b("None")}
	for range defaultBananaLimits.maxDepth {
		deep = []any{b("list"), deep}
	}
	cases := []struct {
		name string
		sexp any
	}{
		{"empty list", []any{}},
		{"int tag", []any{int64(1)}},
		{"None with args", []any{b("None"), int64(1)}},
		{"unicode without value", []any{b("unicode")}},
		{"unicode of int", []any{b("unicode"), int64(1)}},
		{"bad UTF-8", []any{b("unicode"), b("\xff")}},
		{"boolean maybe", []any{b("boolean"), b("maybe")}},
		{"unknown dereference", []any{b("dereference"), int64(9)}},
		{"self reference", []any{b("reference"), int64(1), []any{b("dereference"), int64(1)}}},
		{"cycle through a set", []any{b("reference"), int64(1), []any{b("set"), []any{b("dereference"), int64(1)}}}},
		{"duplicate reference", []any{b("list"), []any{b("reference"), int64(1), []any{b("None")}}, []any{b("reference"), int64(1), []any{b("None")}}}},
		{"reference id bytes", []any{b("reference"), b("x"), []any{b("None")}}},
		{"class", []any{b("class"), b("os.system")}},
		{"function", []any{b("function"), b("os.system")}},
		{"module", []any{b("module"), b("os")}},
		{"instance", []any{b("instance"), b("a.B"), []any{b("dictionary")}}},
		{"persistent", []any{b("persistent"), int64(1)}},
		{"method", []any{b("method"), b("a.b"), []any{b("None")}}},
		{"copy", []any{b("copy"), []any{b("dictionary")}}},
		{"class name with a space", []any{b("a b"), []any{b("dictionary")}}},
		{"copyable without state", []any{b("__main__.Point")}},
		{"copyable state not a dict", []any{b("__main__.Point"), int64(1)}},
		{"dict item not a pair", []any{b("dictionary"), []any{int64(1)}}},
		{"dict item an atom", []any{b("dictionary"), int64(1)}},
		{"remote id bytes", []any{b("remote"), b("x")}},
		{"cacheable without hook", []any{b("__main__.Counter"), int64(2), []any{b("dictionary")}}},
		{"cached without hook", []any{b("cached"), int64(2)}},
		{"too deep", deep},
		{"not an expression", "text"},
	}
	for _, c := range cases {
		_, err := unjelly(c.sexp, &fakeHooks{}, defaultBananaLimits)
		var je *JellyError
		if !errors.As(err, &je) || !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a *JellyError", c.name, err)
		}
	}
}

// A class registered without a module (setUnjellyableForClass("Player", …))
// is a Copyable too.
func TestUnjellyDotlessClass(t *testing.T) {
	v, err := unjelly([]any{[]byte("Player"), []any{[]byte("dictionary")}}, nil, defaultBananaLimits)
	if inst, ok := v.(*Instance); err != nil || !ok || inst.Class != "Player" {
		t.Fatalf("unjelly = %#v, %v", v, err)
	}
}

func TestJellyUnsendable(t *testing.T) {
	type loop struct{ Next *loop }
	lp := &loop{}
	lp.Next = lp
	deep := []any{}
	for range jellyDepthLimit {
		deep = []any{deep}
	}
	for _, v := range []any{
		make(chan int), func() {}, complex(1, 2), lp, bigPow2(448), deep,
		&Instance{State: &Dict{}}, &Instance{Class: "list"}, &Instance{Class: "a b"},
	} {
		if _, err := jelly(v, nil, false); !errors.Is(err, ErrUnsendable) {
			t.Errorf("jelly(%T): %v, want ErrUnsendable", v, err)
		}
	}
	// The deepest value jelly accepts still fits in a broker command.
	ok := []any{}
	for range jellyDepthLimit - 1 {
		ok = []any{ok}
	}
	sexp, err := jelly(ok, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	cmd := []any{"answer", int64(1), sexp}
	if _, err := appendBanana(nil, cmd, true); err != nil {
		t.Fatalf("an answer at the depth cap: %v", err)
	}
}

// A call's arguments as the seed sends them, plus a string and a kwargs dict.
func benchArgs() (Tuple, *Dict) {
	return Tuple{int64(12), "hello", []byte("payload"), []any{int64(1), 2.5}},
		&Dict{Items: []DictItem{{"name", "Bob"}}}
}

func BenchmarkJellyMessage(b *testing.B) {
	args, kw := benchArgs()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		a, err := jelly(args, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		k, err := jelly(kw, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		cmd := []any{"message", int64(1), "root", "print", int64(1), a, k}
		if buf, err = appendBanana(buf[:0], cmd, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnjellyMessage(b *testing.B) {
	args, kw := benchArgs()
	a, _ := jelly(args, nil, false)
	k, _ := jelly(kw, nil, false)
	enc, _ := appendBanana(nil, []any{"message", int64(1), "root", "print", int64(1), a, k}, true)
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(true)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		exprs, err := d.feed(enc)
		if err != nil || len(exprs) != 1 {
			b.Fatal(err)
		}
		cmd := exprs[0].([]any)
		if _, err := unjelly(cmd[5], nil, defaultBananaLimits); err != nil {
			b.Fatal(err)
		}
		if _, err := unjelly(cmd[6], nil, defaultBananaLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJellyTimes(t *testing.T) {
	when := time.Date(2024, 2, 29, 13, 4, 5, 6007890, time.UTC)
	got, back := wire(t, Tuple{when, -1500 * time.Millisecond, 36 * time.Hour}, nil, false)
	want := "['tuple', ['datetime', '2024 2 29 13 4 5 6007'], ['timedelta', '-1 86398 500000'], ['timedelta', '1 43200 0']]"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	bt := back.(Tuple)
	if !bt[0].(time.Time).Equal(when.Truncate(time.Microsecond)) || bt[1] != -1500*time.Millisecond || bt[2] != 36*time.Hour {
		t.Errorf("round trip: %v", bt)
	}
	// The wall clock of the time's own location goes out.
	east := time.FixedZone("E", 3600)
	if got, _ := wire(t, time.Date(2000, 1, 1, 0, 30, 0, 0, east), nil, false); got != "['datetime', '2000 1 1 0 30 0 0']" {
		t.Errorf("zoned time: %s", got)
	}
	v, err := unjelly(parseExpr(t, "['date', '2024 1 2']"), nil, defaultBananaLimits)
	if err != nil || !v.(time.Time).Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date: %v, %v", v, err)
	}
	for _, bad := range []string{
		"['datetime', '2023 2 29 0 0 0 0']", "['datetime', '2023 1 2']", "['datetime', '0 1 1 0 0 0 0']",
		"['datetime', '2023 1 1 24 0 0 0']", "['date', 'x 1 1']", "['timedelta', '1000000000 0 0']",
		"['timedelta', '0 86400 0']", "['timedelta', '200000 0 0']", "['time', '1 2 3 4']", "['decimal', 1, 2]",
	} {
		if _, err := unjelly(parseExpr(t, bad), nil, defaultBananaLimits); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want a *JellyError", bad, err)
		}
	}
	if _, err := jelly(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, false); !errors.Is(err, ErrUnsendable) {
		t.Errorf("year 10000: %v, want ErrUnsendable", err)
	}
	// The zero time.Time is datetime.min.
	if got, _ := wire(t, time.Time{}, nil, false); got != "['datetime', '1 1 1 0 0 0 0']" {
		t.Errorf("zero time: %s", got)
	}
}

// TestJellyFlat checks that the flat values jelly takes without reference
// bookkeeping come out exactly as the general path makes them, and that
// every other value is left to the general path.
func TestJellyFlat(t *testing.T) {
	flat := []any{
		nil, true, false, 3, int64(1 << 40), 2.5, []byte("b"), "s", "",
		Tuple{}, Tuple{int64(1), "x", []byte("y"), nil, true, 1.5}, []any{}, []any{1, 2},
		&Dict{},
	}
	for _, py2 := range []bool{false, true} {
		for _, v := range flat {
			got, ok := jellyFlat(v, py2)
			if !ok {
				t.Errorf("jellyFlat(%#v) is not flat", v)
				continue
			}
			j := jellier{py2: py2}
			var want any
			if err := j.into(&want, v, 1); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("jellyFlat(%#v, py2 %v) = %#v, want %#v", v, py2, got, want)
			}
		}
	}
	shared := []any{int64(1)}
	for _, v := range []any{
		"\xff", Tuple{"\xff"}, Tuple{[]any{}}, []any{shared, shared}, &Dict{Items: []DictItem{{"k", 1}}},
		(*Dict)(nil), Set{int64(1)}, big.NewInt(1), struct{}{},
	} {
		if sexp, ok := jellyFlat(v, false); ok {
			t.Errorf("jellyFlat(%#v) = %#v, want the general path", v, sexp)
		}
	}
}

// TestFlatTuple checks that a tuple of values that unjelly to themselves is
// taken as it is, with the items unjelly gives, and that any other
// expression is left to unjelly.
func TestFlatTuple(t *testing.T) {
	sexp := []any{[]byte("tuple"), int64(1), 2.5, []byte("b"), new(big.Int).Lsh(big.NewInt(1), 70)}
	got, ok := flatTuple(sexp)
	if !ok {
		t.Fatalf("flatTuple(%v) is not flat", sexp)
	}
	want, err := unjelly(sexp, nil, defaultBananaLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(Tuple(got), want) {
		t.Errorf("flatTuple = %#v, unjelly = %#v", got, want)
	}
	for _, s := range []any{
		[]any{[]byte("list"), int64(1)},
		[]any{[]byte("tuple"), []any{[]byte("None")}},
		[]any{[]byte("tuple"), []any{[]byte("unicode"), []byte("s")}},
		[]any{}, int64(1),
	} {
		if _, ok := flatTuple(s); ok {
			t.Errorf("flatTuple(%v) is flat", s)
		}
	}
}
