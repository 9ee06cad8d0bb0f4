package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type counter struct{ n int }

func (c counter) RemoteGet() int   { return c.n }
func (c *counter) RemoteAdd(d int) { c.n += d }

func TestReceivers(t *testing.T) {
	r := New(Options{})
	byValue := mustObject(t, r, counter{n: 5})
	if byValue.Lookup("add") != nil {
		t.Error("a value exposes a pointer-receiver method")
	}
	res, err := byValue.Call(context.Background(), byValue.Lookup("get"), nil)
	if err != nil || res.Int() != 5 {
		t.Errorf("Get on a value: %v, %v", res, err)
	}

	c := &counter{n: 1}
	byPtr := mustObject(t, r, c)
	if byPtr.Value() != any(c) {
		t.Errorf("Value() = %v, want the registered pointer", byPtr.Value())
	}
	if _, err := byPtr.Call(context.Background(), byPtr.Lookup("add"), vals(10)); err != nil {
		t.Fatal(err)
	}
	if c.n != 11 {
		t.Errorf("Add through the pointer left n = %d, want 11", c.n)
	}
	res, _ = byPtr.Call(context.Background(), byPtr.Lookup("get"), nil)
	if res.Int() != 11 {
		t.Errorf("Get through the pointer = %v, want 11", res)
	}
}

func TestNilValues(t *testing.T) {
	r := New(Options{})
	_, err := r.Object(nil)
	var re *RegistrationError
	if !errors.As(err, &re) || err.Error() != "registry: nil value (a nil interface) cannot be registered" {
		t.Errorf("Object(nil): %v", err)
	}
	_, err = r.Object((*counter)(nil))
	if !errors.As(err, &re) || err.Error() != "registry: type *registry.counter: nil pointer cannot be registered" {
		t.Errorf("Object(nil pointer): %v", err)
	}
	var i fmt.Stringer
	if _, err := r.Object(i); err == nil {
		t.Error("Object(nil interface): no error")
	}
}

type base struct{ hits int }

func (b *base) RemotePing() string { b.hits++; return "pong" }
func (b *base) Helper() string     { return "not remote" }

type derived struct {
	*base
	marker
}

func (d *derived) RemoteOwn() string { return "own" }

type shadow struct{ *base }

func (s *shadow) RemotePing() string { return "shadowed" }

func TestPromotedMethods(t *testing.T) {
	r := New(Options{})
	d := &derived{base: &base{}}
	o := mustObject(t, r, d)
	if got := names(o); got != "Own,Ping" {
		t.Errorf("Methods() = %s, want Own,Ping", got)
	}
	res, err := o.Call(context.Background(), o.Lookup("ping"), nil)
	if err != nil || res.String() != "pong" || d.hits != 1 {
		t.Errorf("promoted Ping: %v, %v, hits %d", res, err, d.hits)
	}
	for _, n := range []string{"Helper", "helper", "IsMarker", "String", "Release"} {
		if o.Lookup(n) != nil {
			t.Errorf("Lookup(%q) reached a promoted non-remote method", n)
		}
	}
	// The outer type's own method wins, as in Go.
	s := mustObject(t, r, &shadow{base: &base{}})
	res, _ = s.Call(context.Background(), s.Lookup("ping"), nil)
	if res.String() != "shadowed" {
		t.Errorf("shadowing method: got %v", res)
	}
	// An embedded nil pointer panics inside the call; the caller gets a *PanicError.
	o = mustObject(t, r, &derived{})
	var pe *PanicError
	if _, err := o.Call(context.Background(), o.Lookup("ping"), nil); !errors.As(err, &pe) {
		t.Errorf("promoted method through a nil embedded pointer: %v", err)
	}
}

type plain struct{}

func (plain) String() string { return "plain" }

func TestNoRemoteMethods(t *testing.T) {
	o := mustObject(t, New(Options{}), plain{})
	if len(o.Methods()) != 0 || o.Lookup("string") != nil {
		t.Errorf("plain value exposes %s", names(o))
	}
	o = mustObject(t, New(Options{}), 42)
	if len(o.Methods()) != 0 {
		t.Errorf("int exposes %s", names(o))
	}
}

func names(o *Object) string {
	var s []string
	for _, m := range o.Methods() {
		s = append(s, m.Name)
	}
	return strings.Join(s, ",")
}

func TestMethodsIsSortedCopy(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	ms := o.Methods()
	for i := 1; i < len(ms); i++ {
		if ms[i-1].Name >= ms[i].Name {
			t.Fatalf("Methods not sorted: %s before %s", ms[i-1].Name, ms[i].Name)
		}
	}
	ms[0] = nil
	if o.Methods()[0] == nil {
		t.Error("Methods returns the table's own slice")
	}
}

func TestCache(t *testing.T) {
	r := New(Options{})
	a := mustObject(t, r, &shapes{})
	b := mustObject(t, r, &shapes{})
	if a.tab != b.tab {
		t.Error("two objects of one type got two tables")
	}
	if a.Lookup("three") != b.Lookup("three") || a.Lookup("three") != a.Lookup("Three") {
		t.Error("Lookup returns different *Method for one type")
	}
	if a.Value() == b.Value() {
		t.Error("objects share a receiver")
	}
	// A value and a pointer are different types with different tables.
	v := mustObject(t, r, counter{})
	p := mustObject(t, r, &counter{})
	if v.tab == p.tab {
		t.Error("counter and *counter share a table")
	}
	// Another registry builds its own table (its Options may differ).
	if c := mustObject(t, New(Options{}), &shapes{}); c.tab == a.tab {
		t.Error("two registries share a table")
	}
	// A registration error is cached too.
	_, err1 := r.Object(badChan{})
	_, err2 := r.Object(badChan{})
	if err1 == nil || err1 != err2 {
		t.Errorf("registration error not cached: %v, %v", err1, err2)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Object(a.Value()) }); n > 1 {
		t.Errorf("Object on a cached type allocates %v times, want at most 1 (the Object)", n)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	o := mustObject(t, New(Options{}), &shapes{})
	name := "resultErr"
	if n := testing.AllocsPerRun(100, func() { _ = o.Lookup(name) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func TestConcurrentObject(t *testing.T) {
	r := New(Options{Special: isRef})
	const n = 32
	var wg sync.WaitGroup
	tables := make([]*table, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			o, err := r.Object(&shapes{})
			if err != nil {
				errs[i] = err
				return
			}
			tables[i] = o.tab
			res, err := o.Call(context.Background(), o.Lookup("resultErr"), vals(i))
			if err != nil || res.Int() != int64(2*i) {
				errs[i] = fmt.Errorf("call %d: %v, %v", i, res, err)
			}
			if _, err := r.Object(usesRef{}); err != nil {
				errs[i] = err
			}
			if _, err := r.Object(badChan{}); err == nil {
				errs[i] = errors.New("badChan accepted")
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if tables[i] != tables[0] {
			t.Fatalf("goroutine %d got another table", i)
		}
	}
}

func TestFunc(t *testing.T) {
	r := New(Options{Special: isRef})
	m, err := r.Func("print", func(ctx context.Context, prefix string, xs ...int) (string, error) {
		return fmt.Sprint(prefix, xs), ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Print" || m.String() != "Print(ctx, string, ...int) (string, error)" || !m.HasContext() || !m.Variadic {
		t.Errorf("Func method: %q %s ctx=%v variadic=%v", m.Name, m, m.HasContext(), m.Variadic)
	}
	// recv is ignored.
	res, err := m.Call(context.Background(), reflect.ValueOf(123), vals("p", []int{1, 2}))
	if err != nil || res.String() != "p[1 2]" {
		t.Errorf("Call: %v, %v", res, err)
	}
	if _, err := m.Call(context.Background(), reflect.Value{}, vals("p")); !errors.Is(err, ErrBadArguments) {
		t.Errorf("bad arguments: %v", err)
	}
	// An Object can call a Func method too: the receiver is not used.
	o := mustObject(t, r, plain{})
	if res, err := o.Call(context.Background(), m, vals("q", []int(nil))); err != nil || res.String() != "q[]" {
		t.Errorf("Object.Call of a Func: %v, %v", res, err)
	}

	m, err = r.Func("Boom", func() { panic("func panic") })
	if err != nil {
		t.Fatal(err)
	}
	var pe *PanicError
	if _, err := m.Call(context.Background(), reflect.Value{}, nil); !errors.As(err, &pe) || pe.Method != "Boom" {
		t.Errorf("panicking func: %v", err)
	}
	if m, err := r.Func("take", func(*ref) {}); err != nil || m.Name != "Take" {
		t.Errorf("Special parameter in a Func: %v, %v", m, err)
	}

	bad := []struct {
		name string
		fn   any
		want string
	}{
		{"", func() {}, "registry: func name is empty"},
		{"9lives", func() {}, `registry: func 9lives: name "9lives" does not start with a letter`},
		{"_x", func() {}, `registry: func _x: name "_x" does not start with a letter`},
		{"take-two", func() {}, `registry: func take-two: name "take-two" is not an identifier`},
		{"take two", func() {}, `registry: func take two: name "take two" is not an identifier`},
		{"\xffx", func() {}, "does not start with a letter"},
		{"\u212aey", func() {}, `is not case-stable: its lower-camel form "key" canonicalises to "Key"`},
		{"x", 42, "registry: func x: int is not a function"},
		{"x", nil, "registry: func x: <nil> is not a function"},
		{"x", (func())(nil), "registry: func x: nil function"},
		{"x", func(c chan int) {}, "registry: func x: parameter 1 (chan int): gob cannot carry chan int (a channel)"},
		{"x", func(int, context.Context) {}, "registry: func x: parameter 2 is context.Context, which is only allowed as the first parameter"},
		{"x", func() (int, int) { return 0, 0 }, "registry: func x: the second result is int; it must be error"},
		{"x", func([]*ref) {}, "references nested in []*registry.ref are not supported; pass them as a top-level argument"},
	}
	for _, tc := range bad {
		m, err := r.Func(tc.name, tc.fn)
		var re *RegistrationError
		if m != nil || !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Func(%q, %T) = %v, %v; want error containing %q", tc.name, tc.fn, m, err, tc.want)
		}
	}
}

// Concurrent calls each see their own context, although the boxes that carry
// contexts into reflect are reused.
func TestConcurrentCallsKeepTheirContext(t *testing.T) {
	r := New(Options{})
	o := mustObject(t, r, &shapes{})
	m := o.Lookup("ctxOnly")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				want := fmt.Sprintf("g%d-%d", g, i)
				ctx := context.WithValue(context.Background(), ctxKey{}, want)
				res, err := o.Call(ctx, m, nil)
				if err != nil || res.String() != want {
					errs <- fmt.Errorf("got %v, %v; want %s", res, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
