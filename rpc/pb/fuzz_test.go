package pb

import (
	"bytes"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"
)

// fuzzHooks keeps references as they are: ['remote', n] decodes to a
// fuzzRef that jellies back to ['remote', n], and so on.
type fuzzHooks struct{}

type fuzzRef struct {
	kind  string
	id    int64
	class string
}

func (fuzzHooks) unjellyRemote(id int64) (any, error) { return &fuzzRef{kind: "remote", id: id}, nil }
func (fuzzHooks) unjellyLocal(id int64) (any, error)  { return &fuzzRef{kind: "local", id: id}, nil }
func (fuzzHooks) unjellyCache(id int64, class string, state any) (any, error) {
	return &fuzzRef{kind: "cached", id: id, class: class}, nil
}

func (fuzzHooks) jellyRef(v any) (any, bool, error) {
	r, ok := v.(*fuzzRef)
	if !ok {
		return nil, false, nil
	}
	return []any{r.kind, r.id}, true, nil
}

// fuzzSeeds are Banana streams in dialect pb: the seed capture's commands and
// the shapes of PB-WIRE.md §11.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		{0x02, 0x80, 0x13, 0x87, 0x06, 0x81},
		{0x00, 0x80},
		{0x84, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0},
		{0x01, 0x00, 0x00, 0x00, 0x08, 0x86},
		append(bytes.Repeat([]byte{0x7f}, 64), 0x85),
		append(bytes.Repeat([]byte{1, 0x80}, 40), 0, 0x80),
	}
	for _, name := range []string{"seed-client-to-server.bin", "seed-server-to-client.bin"} {
		raw := readCaptureF(f, name)
		// Skip the negotiation expression: the rest is in dialect pb.
		if name == "seed-client-to-server.bin" {
			seeds = append(seeds, raw[4:])
		} else {
			seeds = append(seeds, raw[12:])
		}
	}
	for _, text := range []string{
		capturedFailure,
		"['__main__.Point', ['dictionary', [['unicode', 'x'], 1], [['unicode', 'y'], 2.5]]]",
		"['tuple', ['reference', 1, ['list', 1, 2]], ['dereference', 1], ['set', 3], ['frozenset', 4], ['boolean', 'true']]",
		"['reference', 1, ['dictionary', [['unicode', 'self'], ['dereference', 1]]]]",
		"['tuple', ['remote', 3], ['local', 4], ['local', 'root'], ['cached', 2], ['__main__.Counter', 2, ['dictionary']]]",
		"['dictionary', [['tuple', 1, 2], ['None']], [['unicode', 'k\\xc3\\xa9'], 18446744073709551616]]",
		"['unpersistable', 'why']",
		"['tuple', ['datetime', '2024 2 29 13 4 5 6007'], ['date', '2024 1 2'], ['timedelta', '-1 86398 500000']]",
	} {
		sexp := parseExprF(f, text)
		enc, err := appendBanana(nil, sexp, true)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, enc)
	}
	return seeds
}

func readCaptureF(f *testing.F, name string) []byte {
	raw, err := readFileCapture(name)
	if err != nil {
		f.Fatalf("the Twisted captures must be present at %s (relative to rpc/pb): %v", capturesDir, err)
	}
	return raw
}

func parseExprF(f *testing.F, s string) any {
	p := exprParser{s: s}
	v, err := p.value()
	if err != nil {
		f.Fatalf("parseExpr(%q): %v", s, err)
	}
	return v
}

// checkLimits walks a decoded expression and reports whether it keeps lim.
func checkLimits(v any, lim bananaLimits, depth int) bool {
	switch v := v.(type) {
	case []any:
		if depth+1 > lim.maxDepth || len(v) > lim.maxList {
			return false
		}
		for _, e := range v {
			if !checkLimits(e, lim, depth+1) {
				return false
			}
		}
	case []byte:
		return len(v) <= lim.maxString
	case *big.Int:
		return v.BitLen() <= 7*lim.maxDigits && !v.IsInt64()
	case int64, float64:
	default:
		return false
	}
	return true
}

func exprDepth(v any) int {
	l, ok := v.([]any)
	if !ok {
		return 0
	}
	d := 0
	for _, e := range l {
		d = max(d, exprDepth(e))
	}
	return d + 1
}

// FuzzBanana: the decoder never panics, whatever the split; what it returns
// keeps the limits; the same bytes fed whole and in pieces decode alike; and
// decoding the encoding of a decoded expression gives the same encoding.
func FuzzBanana(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		lim := defaultBananaLimits
		if split&0x80 != 0 { // small limits, to reach them
			lim = bananaLimits{maxDigits: 4, maxString: 16, maxList: 4, maxDepth: 4, maxExpr: 48} // maxString fits every vocabulary word
		}
		whole, errWhole := decodeStream(lim, in, len(in)+1)
		step := int(split&0x1f) + 1
		pieces, errPieces := decodeStream(lim, in, step)
		if (errWhole == nil) != (errPieces == nil) || len(whole) != len(pieces) {
			t.Fatalf("whole: %d, %v; in %d-byte pieces: %d, %v", len(whole), errWhole, step, len(pieces), errPieces)
		}
		if errWhole != nil {
			var be *BananaError
			if !errors.As(errWhole, &be) || !errors.Is(errWhole, ErrProtocol) {
				t.Fatalf("error %v is not a *BananaError", errWhole)
			}
		}
		for i, v := range whole {
			if !checkLimits(v, lim, 0) {
				t.Fatalf("expression %d breaks the limits: %s", i, formatExpr(v))
			}
			enc, err := appendBanana(nil, v, true)
			if err != nil {
				if lim == defaultBananaLimits {
					t.Fatalf("re-encode %s: %v", formatExpr(v), err)
				}
				continue
			}
			if !bytes.Equal(mustEncode(t, pieces[i]), enc) {
				t.Fatalf("expression %d decodes differently in pieces", i)
			}
			again, err := decodeStream(defaultBananaLimits, enc, len(enc))
			if err != nil || len(again) != 1 {
				t.Fatalf("decode of re-encoded %s: %v", formatExpr(v), err)
			}
			if enc2 := mustEncode(t, again[0]); !bytes.Equal(enc, enc2) {
				t.Fatalf("round trip changed the bytes:\n% x\n% x", enc, enc2)
			}
		}
	})
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	enc, err := appendBanana(nil, v, true)
	if err != nil {
		t.Fatalf("encode %s: %v", formatExpr(v), err)
	}
	return enc
}

func decodeStream(lim bananaLimits, in []byte, step int) ([]any, error) {
	d := newBananaDecoder(lim)
	d.setDialect(true)
	var out []any
	for len(in) > 0 {
		n := min(step, len(in))
		got, err := d.feed(in[:n])
		in = in[n:]
		out = append(out, got...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// FuzzJelly: unjelly never panics and fails only with a *JellyError; a value
// it returns jellies, and from then on unjelly and jelly are each other's
// inverse (the second round gives the same bytes as the first).
func FuzzJelly(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		exprs, _ := decodeStream(defaultBananaLimits, in, len(in)+1)
		lim := defaultBananaLimits
		lim.maxDepth = jellyDepthLimit
		for _, sexp := range exprs {
			v, err := unjelly(sexp, fuzzHooks{}, lim)
			if err != nil {
				var je *JellyError
				if !errors.As(err, &je) {
					t.Fatalf("unjelly %s: %v is not a *JellyError", formatExpr(sexp), err)
				}
				continue
			}
			enc1, err := jellyBytes(v)
			if err != nil {
				if errors.Is(err, ErrUnsendable) && exprDepth(sexp) > jellyDepthLimit-8 {
					continue // a reference wrapper may add a level at the cap
				}
				t.Fatalf("jelly of unjelly(%s): %v", formatExpr(sexp), err)
			}
			dec, err := decodeStream(defaultBananaLimits, enc1, len(enc1))
			if err != nil || len(dec) != 1 {
				t.Fatalf("decode: %v", err)
			}
			v2, err := unjelly(dec[0], fuzzHooks{}, defaultBananaLimits)
			if err != nil {
				t.Fatalf("unjelly of jelly(%s) = %s: %v", formatExpr(sexp), formatExpr(dec[0]), err)
			}
			enc2, err := jellyBytes(v2)
			if err != nil || !bytes.Equal(enc1, enc2) {
				t.Fatalf("second round differs (%v):\n%s\n%s", err, formatExpr(dec[0]), formatExpr(mustDecode(t, enc2)))
			}
		}
	})
}

func jellyBytes(v any) ([]byte, error) {
	sexp, err := jelly(v, fuzzHooks{}, false)
	if err != nil {
		return nil, err
	}
	return appendBanana(nil, sexp, true)
}

func mustDecode(t *testing.T, enc []byte) any {
	dec, err := decodeStream(defaultBananaLimits, enc, len(enc))
	if err != nil || len(dec) != 1 {
		return nil
	}
	return dec[0]
}

// fuzzTargets are Go types a broker converts arguments into.
var fuzzTargets = []reflect.Type{
	reflect.TypeFor[int](), reflect.TypeFor[uint8](), reflect.TypeFor[float32](), reflect.TypeFor[string](),
	reflect.TypeFor[[]byte](), reflect.TypeFor[[2]byte](), reflect.TypeFor[[]int](), reflect.TypeFor[[][]string](),
	reflect.TypeFor[map[string]any](), reflect.TypeFor[map[any]int](), reflect.TypeFor[map[int64][]float64](),
	reflect.TypeFor[Tuple](), reflect.TypeFor[*Point](), reflect.TypeFor[Player](), reflect.TypeFor[[]*Player](),
	reflect.TypeFor[Failure](), reflect.TypeFor[*big.Int](), reflect.TypeFor[time.Time](), reflect.TypeFor[any](),
	reflect.TypeFor[error](), reflect.TypeFor[fuzzTree](),
}

type fuzzTree struct {
	Name     string
	Children []fuzzTree
	Attrs    map[string]*fuzzTree
}

// FuzzConvert: converting whatever unjelly returns into typed Go values never
// panics and fails only with a *ConvertError; what converts jellies.
func FuzzConvert(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, which uint8) {
		exprs, _ := decodeStream(defaultBananaLimits, in, len(in)+1)
		for _, sexp := range exprs {
			v, err := unjelly(sexp, fuzzHooks{}, defaultBananaLimits)
			if err != nil {
				continue
			}
			typ := fuzzTargets[int(which)%len(fuzzTargets)]
			out, err := convertTo(v, typ)
			if err != nil {
				var ce *ConvertError
				if !errors.As(err, &ce) {
					t.Fatalf("convertTo(%s, %v): %v is not a *ConvertError", formatExpr(sexp), typ, err)
				}
				_ = err.Error()
				continue
			}
			if out.Type() != typ {
				t.Fatalf("convertTo gave a %v, want %v", out.Type(), typ)
			}
			if _, err := jelly(out.Interface(), fuzzHooks{}, which&0x80 != 0); err != nil && !errors.Is(err, ErrUnsendable) {
				t.Fatalf("jelly of the converted %v: %v", typ, err)
			}
		}
	})
}
