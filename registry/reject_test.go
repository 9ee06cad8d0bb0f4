package registry

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

//lint:ignore U1000 the unexported fields are what the tests are about
type noExported struct{ a, b int }
type onlyChanFields struct {
	C chan int
	F func()
}
type recPtr *recPtr
type ref struct{ id uint64 } // stands for the broker's *rpc.Ref: gob cannot carry it

type badChan struct{}

func (badChan) RemoteX(c chan int) {}

type badFunc struct{}

func (badFunc) RemoteX(f func()) {}

type badUnsafe struct{}

func (badUnsafe) RemoteX(p unsafe.Pointer) {}

type badNoExported struct{}

func (badNoExported) RemoteX(s noExported) {}

type badOnlyChanFields struct{}

func (badOnlyChanFields) RemoteX(s onlyChanFields) {}

type badPtrNoExported struct{}

func (badPtrNoExported) RemoteX(s *noExported) {}

type badNested struct{}

func (badNested) RemoteX(m map[string][]chan int) {}

type badMapKey struct{}

func (badMapKey) RemoteX(m map[chan int]string) {}

type badField struct{}

func (badField) RemoteX(s struct {
	A int
	F []func()
}) {
}

type badRecPtr struct{}

func (badRecPtr) RemoteX(p recPtr) {}

type badVariadic struct{}

func (badVariadic) RemoteX(a int, fs ...func()) {}

type badCtxNotFirst struct{}

func (badCtxNotFirst) RemoteX(a int, ctx context.Context) {}

type badTwoCtx struct{}

func (badTwoCtx) RemoteX(ctx, ctx2 context.Context) {}

type badCtxNested struct{}

func (badCtxNested) RemoteX(s struct{ Ctx context.Context }) {}

type badCtxResult struct{}

func (badCtxResult) RemoteX() context.Context { return nil }

type badThreeResults struct{}

func (badThreeResults) RemoteX() (int, int, error) { return 0, 0, nil }

type badSecondNotError struct{}

func (badSecondNotError) RemoteX() (int, string) { return 0, "" }

type badErrorError struct{}

func (badErrorError) RemoteX() (error, error) { return nil, nil }

type badResultChan struct{}

func (badResultChan) RemoteX() (chan int, error) { return nil, nil }

type badResultNoExported struct{}

func (badResultNoExported) RemoteX() noExported { return noExported{} }

type badRefWithoutSpecial struct{}

func (badRefWithoutSpecial) RemoteX(r *ref) {}

type badInner struct{}

func (badInner) RemoteInner(c chan int) {}

type badPromoted struct{ badInner }

func TestRejectedShapes(t *testing.T) {
	tests := []struct {
		v    any
		want string // the whole error text
	}{
		{badChan{}, "registry: method registry.badChan.RemoteX: parameter 1 (chan int): gob cannot carry chan int (a channel)"},
		{badFunc{}, "registry: method registry.badFunc.RemoteX: parameter 1 (func()): gob cannot carry func() (a function)"},
		{badUnsafe{}, "registry: method registry.badUnsafe.RemoteX: parameter 1 (unsafe.Pointer): gob cannot carry unsafe.Pointer"},
		{badNoExported{}, "registry: method registry.badNoExported.RemoteX: parameter 1 (registry.noExported): gob cannot carry registry.noExported: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)"},
		{badOnlyChanFields{}, "registry: method registry.badOnlyChanFields.RemoteX: parameter 1 (registry.onlyChanFields): gob cannot carry registry.onlyChanFields: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)"},
		{badPtrNoExported{}, "registry: method registry.badPtrNoExported.RemoteX: parameter 1 (*registry.noExported): in pointer target: gob cannot carry registry.noExported: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)"},
		{badNested{}, "registry: method registry.badNested.RemoteX: parameter 1 (map[string][]chan int): in map value, element: gob cannot carry chan int (a channel)"},
		{badMapKey{}, "registry: method registry.badMapKey.RemoteX: parameter 1 (map[chan int]string): in map key: gob cannot carry chan int (a channel)"},
		{badField{}, "registry: method registry.badField.RemoteX: parameter 1 (struct { A int; F []func() }): in field F, element: gob cannot carry func() (a function)"},
		{badRecPtr{}, "registry: method registry.badRecPtr.RemoteX: parameter 1 (registry.recPtr): gob cannot carry registry.recPtr (a recursive pointer type)"},
		{badVariadic{}, "registry: method registry.badVariadic.RemoteX: parameter 2 ([]func()): in element: gob cannot carry func() (a function)"},
		{badCtxNotFirst{}, "registry: method registry.badCtxNotFirst.RemoteX: parameter 2 is context.Context, which is only allowed as the first parameter"},
		{badTwoCtx{}, "registry: method registry.badTwoCtx.RemoteX: parameter 2 is context.Context, which is only allowed as the first parameter"},
		{badCtxNested{}, "registry: method registry.badCtxNested.RemoteX: parameter 1 (struct { Ctx context.Context }): in field Ctx: context.Context is only allowed as the first parameter"},
		{badCtxResult{}, "registry: method registry.badCtxResult.RemoteX: the result is context.Context, which is only allowed as the first parameter"},
		{badThreeResults{}, "registry: method registry.badThreeResults.RemoteX: it returns 3 results; allowed results are (), (error), (T) and (T, error)"},
		{badSecondNotError{}, "registry: method registry.badSecondNotError.RemoteX: the second result is string; it must be error"},
		{badErrorError{}, "registry: method registry.badErrorError.RemoteX: the first of two results is error; allowed results are (), (error), (T) and (T, error)"},
		{badResultChan{}, "registry: method registry.badResultChan.RemoteX: the result (chan int): gob cannot carry chan int (a channel)"},
		{badResultNoExported{}, "registry: method registry.badResultNoExported.RemoteX: the result (registry.noExported): gob cannot carry registry.noExported: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)"},
		{badRefWithoutSpecial{}, "registry: method registry.badRefWithoutSpecial.RemoteX: parameter 1 (*registry.ref): in pointer target: gob cannot carry registry.ref: it has no exported fields (implement gob.GobEncoder or encoding.BinaryMarshaler to send it)"},
		{badPromoted{}, "registry: method registry.badPromoted.RemoteInner: parameter 1 (chan int): gob cannot carry chan int (a channel)"},
		{&badChan{}, "registry: method (*registry.badChan).RemoteX: parameter 1 (chan int): gob cannot carry chan int (a channel)"},
	}
	r := New(Options{})
	for _, tc := range tests {
		t.Run(reflect.TypeOf(tc.v).String(), func(t *testing.T) {
			o, err := r.Object(tc.v)
			if o != nil {
				t.Errorf("Object returned an object along with error %v", err)
			}
			var re *RegistrationError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *RegistrationError", err, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if re.Type != reflect.TypeOf(tc.v).String() || !strings.HasPrefix(re.Method, "Remote") || re.Reason == "" {
				t.Errorf("fields: %+v", re)
			}
		})
	}
}

type manyBad struct{}

func (manyBad) RemoteA(c chan int)       {}
func (manyBad) RemoteB() (int, int, int) { return 0, 0, 0 }
func (manyBad) RemoteGood() int          { return 1 }
func (manyBad) RemoteC(f func()) (int, string) {
	return 0, ""
}

func TestManyBadMethodsAreAllReported(t *testing.T) {
	_, err := New(Options{}).Object(manyBad{})
	if err == nil {
		t.Fatal("no error")
	}
	var re *RegistrationError
	if !errors.As(err, &re) || re.Method != "RemoteA" {
		t.Fatalf("errors.As: %+v, want the first bad method RemoteA", re)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not join several", err)
	}
	var names []string
	for _, e := range joined.Unwrap() {
		names = append(names, e.(*RegistrationError).Method)
	}
	if got := strings.Join(names, ","); got != "RemoteA,RemoteB,RemoteC" {
		t.Errorf("reported methods %s, want RemoteA,RemoteB,RemoteC", got)
	}
	// Every reason of a method is given, not only the first.
	want := "registry: method registry.manyBad.RemoteC: parameter 1 (func()): gob cannot carry func() (a function); the second result is string; it must be error"
	if msg := err.Error(); !strings.Contains(msg, want) {
		t.Errorf("RemoteC's reasons missing from:\n%s", msg)
	}
}

// Special types.

type usesRef struct{}

func (usesRef) RemoteTake(r *ref) int { return int(r.id) }
func (usesRef) RemoteGive() *ref      { return &ref{id: 7} }
func (usesRef) RemoteBoth(ctx context.Context, a int, r *ref) (*ref, error) {
	return r, nil
}

type refSlice struct{}

func (refSlice) RemoteX(rs []*ref) {}

type refArray struct{}

func (refArray) RemoteX(rs [2]*ref) {}

type refMapValue struct{}

func (refMapValue) RemoteX(m map[string]*ref) {}

type refMapKey struct{}

func (refMapKey) RemoteX(m map[*ref]int) {}

type refField struct{}

func (refField) RemoteX(s struct{ R *ref }) {}

type refPtr struct{}

func (refPtr) RemoteX(r **ref) {}

type refVariadic struct{}

func (refVariadic) RemoteX(rs ...*ref) {}

type refResultNested struct{}

func (refResultNested) RemoteX() ([]*ref, error) { return nil, nil }

func isRef(t reflect.Type) bool { return t == reflect.TypeFor[*ref]() }

func TestSpecialTypes(t *testing.T) {
	r := New(Options{Special: isRef})
	o := mustObject(t, r, usesRef{})
	if got := o.Lookup("both").String(); got != "Both(ctx, int, *registry.ref) (*registry.ref, error)" {
		t.Errorf("Both: %s", got)
	}
	res, err := o.Call(context.Background(), o.Lookup("take"), vals(&ref{id: 3}))
	if err != nil || res.Int() != 3 {
		t.Errorf("Take: %v, %v", res, err)
	}
	res, err = o.Call(context.Background(), o.Lookup("give"), nil)
	if err != nil || res.Interface().(*ref).id != 7 {
		t.Errorf("Give: %v, %v", res, err)
	}

	nested := []struct {
		v          any
		what, path string
	}{
		{refSlice{}, "parameter 1 ([]*registry.ref)", "in element: *registry.ref is a reference: references nested in []*registry.ref"},
		{refArray{}, "parameter 1 ([2]*registry.ref)", "in element: *registry.ref is a reference: references nested in [2]*registry.ref"},
		{refMapValue{}, "parameter 1 (map[string]*registry.ref)", "in map value: *registry.ref is a reference"},
		{refMapKey{}, "parameter 1 (map[*registry.ref]int)", "in map key: *registry.ref is a reference"},
		{refField{}, "parameter 1 (struct { R *registry.ref })", "in field R: *registry.ref is a reference"},
		{refPtr{}, "parameter 1 (**registry.ref)", "in pointer target: *registry.ref is a reference"},
		{refVariadic{}, "parameter 1 ([]*registry.ref)", "in element: *registry.ref is a reference"},
		{refResultNested{}, "the result ([]*registry.ref)", "in element: *registry.ref is a reference"},
	}
	for _, tc := range nested {
		_, err := r.Object(tc.v)
		if err == nil {
			t.Errorf("%T: nested reference accepted", tc.v)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"RemoteX", tc.what, tc.path, "are not supported; pass them as a top-level argument"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%T: error %q lacks %q", tc.v, msg, want)
			}
		}
	}
}
