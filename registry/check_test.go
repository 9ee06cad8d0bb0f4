package registry

import (
	"bytes"
	"encoding/gob"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type chanAndInt struct {
	C chan int
	A int
}
type ptrChanField struct{ C *chan int }
type selfSlice []selfSlice
type mutualA struct{ B *mutualB }
type mutualB struct {
	A []mutualA
	N int
}
type unsafeField struct{ P unsafe.Pointer }
type inner struct{ X int }
type embedsUnexported struct{ inner }
type embedsExported struct{ Point }
type Point struct{ X, Y int }

// binaryOnly has no exported fields but marshals itself.
type binaryOnly struct{ v int }

func (b binaryOnly) MarshalBinary() ([]byte, error) { return []byte{byte(b.v)}, nil }
func (b *binaryOnly) UnmarshalBinary(p []byte) error {
	b.v = int(p[0])
	return nil
}

// encodeOnly can be sent but not received.
//
//lint:ignore U1000 the unexported field is what the test is about
type encodeOnly struct{ v int }

func (e encodeOnly) GobEncode() ([]byte, error) { return []byte{1}, nil }

// textOnly marshals to text, which gob does not use.
//
//lint:ignore U1000 the unexported field is what the test is about
type textOnly struct{ v int }

func (textOnly) MarshalText() ([]byte, error) { return nil, nil }
func (*textOnly) UnmarshalText([]byte) error  { return nil }

// gobRoundTrip reports whether gob encodes and decodes a zero value of t.
func gobRoundTrip(t reflect.Type) error {
	v := reflect.New(t).Elem()
	for p := v; p.Kind() == reflect.Pointer && p.Type().Elem().Kind() != reflect.Pointer; p = p.Elem() {
		p.Set(reflect.New(p.Type().Elem())) // gob refuses a nil pointer at the top
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		pp := reflect.New(t.Elem())
		pp.Elem().Set(reflect.New(t.Elem().Elem()))
		v.Set(pp)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).EncodeValue(v); err != nil {
		return err
	}
	return gob.NewDecoder(&buf).DecodeValue(reflect.New(t))
}

// TestCheckAgreesWithGob runs each type through the check and through gob
// itself: the check must accept exactly what gob can send and receive.
func TestCheckAgreesWithGob(t *testing.T) {
	types := []reflect.Type{
		reflect.TypeFor[bool](),
		reflect.TypeFor[int8](),
		reflect.TypeFor[uint64](),
		reflect.TypeFor[uintptr](),
		reflect.TypeFor[float32](),
		reflect.TypeFor[complex64](),
		reflect.TypeFor[complex128](),
		reflect.TypeFor[string](),
		reflect.TypeFor[[]byte](),
		reflect.TypeFor[[3]int](),
		reflect.TypeFor[[0]string](),
		reflect.TypeFor[map[string][]int](),
		reflect.TypeFor[map[[2]int]string](),
		reflect.TypeFor[*int](),
		reflect.TypeFor[**int](),
		reflect.TypeFor[struct{}](),
		reflect.TypeFor[Point](),
		reflect.TypeFor[*Point](),
		reflect.TypeFor[node](),
		reflect.TypeFor[selfSlice](),
		reflect.TypeFor[mutualA](),
		reflect.TypeFor[chanAndInt](),
		reflect.TypeFor[ptrChanField](),
		reflect.TypeFor[embedsExported](),
		reflect.TypeFor[time.Time](),
		reflect.TypeFor[*time.Time](),
		reflect.TypeFor[big.Int](),
		reflect.TypeFor[*big.Int](),
		reflect.TypeFor[binaryOnly](),
		reflect.TypeFor[any](),
		reflect.TypeFor[[]any](),
		reflect.TypeFor[map[string]any](),
		reflect.TypeFor[error](),
		// refused
		reflect.TypeFor[chan int](),
		reflect.TypeFor[func()](),
		reflect.TypeFor[unsafe.Pointer](),
		reflect.TypeFor[unsafeField](),
		reflect.TypeFor[noExported](),
		reflect.TypeFor[*noExported](),
		reflect.TypeFor[onlyChanFields](),
		reflect.TypeFor[embedsUnexported](),
		reflect.TypeFor[recPtr](),
		reflect.TypeFor[[]chan int](),
		reflect.TypeFor[map[string]func()](),
		reflect.TypeFor[map[chan int]int](),
		reflect.TypeFor[[]noExported](),
		reflect.TypeFor[encodeOnly](),
		reflect.TypeFor[textOnly](),
	}
	for _, typ := range types {
		reason := checkTop(nil, "parameter 1", typ)
		gobErr := gobRoundTrip(typ)
		if (reason == "") != (gobErr == nil) {
			t.Errorf("%s: check says %q, gob says %v", typ, reason, gobErr)
		}
	}
}

func TestCheckTerminatesOnRecursiveTypes(t *testing.T) {
	type deep struct {
		Self  *deep
		Many  []deep
		Index map[string]*deep
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[deep](), reflect.TypeFor[selfSlice](), reflect.TypeFor[mutualA](), reflect.TypeFor[recPtr]()} {
		done := make(chan string)
		go func() { done <- checkTop(nil, "parameter 1", typ) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("check of %s does not terminate", typ)
		}
	}
}

func TestCheckSpecialOnlyAtTop(t *testing.T) {
	special := func(t reflect.Type) bool { return t == reflect.TypeFor[*ref]() || t == reflect.TypeFor[refLike]() }
	if r := checkTop(special, "parameter 1", reflect.TypeFor[*ref]()); r != "" {
		t.Errorf("top-level special refused: %s", r)
	}
	if r := checkTop(special, "parameter 1", reflect.TypeFor[refLike]()); r != "" {
		t.Errorf("top-level special struct refused: %s", r)
	}
	// A Special type inside a struct that is itself accepted only because of
	// the special field still fails, however deep.
	type deep struct {
		A []map[string]struct{ R refLike }
	}
	r := checkTop(special, "parameter 1", reflect.TypeFor[deep]())
	if !strings.Contains(r, "in field A, element, map value, field R: registry.refLike is a reference: references nested in registry.deep are not supported") {
		t.Errorf("deep special: %q", r)
	}
}

// refLike stands for a type that embeds the broker's Referenceable marker.
type refLike struct {
	marker
	c chan int //lint:ignore U1000 the field is read only through reflection
}
