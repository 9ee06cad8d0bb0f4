package pb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func bigPow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

// decodeAll feeds raw one byte at a time to a decoder in dialect pb and
// returns every expression.
func decodeAll(t *testing.T, lim bananaLimits, raw []byte, pb bool) ([]any, error) {
	t.Helper()
	d := newBananaDecoder(lim)
	d.setDialect(pb)
	var out []any
	for i := range raw {
		got, err := d.feed(raw[i : i+1])
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// The examples of PB-WIRE.md §2.1, captured from Twisted.
func TestBananaTwistedExamples(t *testing.T) {
	cases := []struct {
		v   any
		hex string
	}{
		{int64(0), "00 81"},
		{int64(127), "7f 81"},
		{int64(128), "00 01 81"},
		{int64(math.MaxInt32), "7f 7f 7f 7f 07 81"},
		{int64(math.MaxInt32 + 1), "00 00 00 00 08 85"},
		{int64(-1), "01 83"},
		{int64(math.MinInt32), "00 00 00 00 08 83"},
		{int64(math.MinInt32 - 1), "01 00 00 00 08 86"},
		{bigPow2(64), "00 00 00 00 00 00 00 00 00 02 85"},
		{1.5, "84 3f f8 00 00 00 00 00 00"},
		{math.Copysign(0, -1), "84 80 00 00 00 00 00 00 00"},
		{[]byte("pb"), "02 82 70 62"},
		{[]any{}, "00 80"},
		{[]any{[]byte("pb"), []byte("none")}, "02 80 02 82 70 62 04 82 6e 6f 6e 65"},
	}
	for _, c := range cases {
		want := mustHex(t, c.hex)
		got, err := appendBanana(nil, c.v, false)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("appendBanana(%v) = % x, %v; want % x", c.v, got, err, want)
		}
		dec, err := decodeAll(t, defaultBananaLimits, want, false)
		if err != nil || len(dec) != 1 {
			t.Fatalf("decode % x: %v, %d values", want, err, len(dec))
		}
		if !bananaEqual(dec[0], c.v) {
			t.Errorf("decode % x = %#v, want %#v", want, dec[0], c.v)
		}
	}
}

// bananaEqual compares decoded values; floats by bits, so -0.0 != 0.0.
func bananaEqual(a, b any) bool {
	switch a := a.(type) {
	case *big.Int:
		b, ok := b.(*big.Int)
		return ok && a.Cmp(b) == 0
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !bananaEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestBananaIntegerRanges(t *testing.T) {
	cases := []struct {
		v   any
		typ byte
	}{
		{int64(math.MaxInt64), bananaLongInt},
		{int64(math.MinInt64), bananaLongNeg},
		{int(7), bananaInt},
		{big.NewInt(-5), bananaNeg},
		{new(big.Int).Sub(bigPow2(448), big.NewInt(1)), bananaLongInt},
		{new(big.Int).Neg(new(big.Int).Sub(bigPow2(448), big.NewInt(1))), bananaLongNeg},
		{new(big.Int).Neg(bigPow2(63)), bananaLongNeg},
	}
	for _, c := range cases {
		enc, err := appendBanana(nil, c.v, true)
		if err != nil {
			t.Fatalf("encode %v: %v", c.v, err)
		}
		if enc[len(enc)-1] != c.typ {
			t.Errorf("encode %v: type byte %#x, want %#x", c.v, enc[len(enc)-1], c.typ)
		}
		dec, err := decodeAll(t, defaultBananaLimits, enc, true)
		if err != nil || len(dec) != 1 {
			t.Fatalf("decode %v: %v", c.v, err)
		}
		want := c.v
		switch w := want.(type) {
		case int:
			want = int64(w)
		case *big.Int:
			if w.IsInt64() {
				want = w.Int64()
			}
		}
		if !bananaEqual(dec[0], want) {
			t.Errorf("round trip %v = %#v", c.v, dec[0])
		}
	}
	// -2^63 arrives as an int64, 2^63 as a *big.Int.
	dec, _ := decodeAll(t, defaultBananaLimits, mustHex(t, "00 00 00 00 00 00 00 00 00 01 86"), false)
	if dec[0] != int64(math.MinInt64) {
		t.Errorf("-2^63 decodes to %#v", dec[0])
	}
	dec, _ = decodeAll(t, defaultBananaLimits, mustHex(t, "00 00 00 00 00 00 00 00 00 01 85"), false)
	if b, ok := dec[0].(*big.Int); !ok || b.Cmp(bigPow2(63)) != 0 {
		t.Errorf("2^63 decodes to %#v", dec[0])
	}
	for _, v := range []*big.Int{bigPow2(448), new(big.Int).Neg(bigPow2(448))} {
		if _, err := appendBanana(nil, v, false); !errors.Is(err, ErrUnsendable) {
			t.Errorf("encode %v: %v, want ErrUnsendable", v, err)
		}
	}
}

func TestBananaVocabulary(t *testing.T) {
	for i := uint64(1); i < vocabSize; i++ {
		w, _ := vocabWord(i)
		if vocabIndex(w) != int(i) {
			t.Errorf("vocabIndex(%q) = %d, want %d", w, vocabIndex(w), i)
		}
		enc, err := appendBanana(nil, []byte(w), true)
		if err != nil || !bytes.Equal(enc, []byte{byte(i), bananaVocab}) {
			t.Errorf("encode %q in dialect pb = % x, %v", w, enc, err)
		}
		dec, err := decodeAll(t, defaultBananaLimits, enc, true)
		if err != nil || string(dec[0].([]byte)) != w {
			t.Errorf("decode token %d = %v, %v", i, dec, err)
		}
		// Spelled out, the word is accepted in either dialect.
		enc, _ = appendBanana(nil, w, false)
		if enc[len(enc)-len(w)-1] != bananaString {
			t.Errorf("encode %q in dialect none = % x", w, enc)
		}
	}
	// Words Twisted never compresses.
	for _, w := range []string{"unicode", "boolean", "set", "frozenset", "root", "takeTwo", "Nonex", ""} {
		if vocabIndex(w) != 0 {
			t.Errorf("%q is in the vocabulary", w)
		}
	}
	for _, raw := range []string{"00 87", "20 87", "7f 7f 87"} {
		_, err := decodeAll(t, defaultBananaLimits, mustHex(t, raw), true)
		var be *BananaError
		if !errors.As(err, &be) || !strings.Contains(be.Reason, "not in the pb vocabulary") {
			t.Errorf("decode %s: %v, want an unknown-token error", raw, err)
		}
	}
	_, err := decodeAll(t, defaultBananaLimits, mustHex(t, "13 87"), false)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "outside dialect pb") {
		t.Errorf("vocabulary in dialect none: %v", err)
	}
}

func TestBananaLimits(t *testing.T) {
	lim := defaultBananaLimits
	digits := func(n uint64) []byte { return appendDigits(nil, n) }
	cases := []struct {
		name   string
		raw    []byte
		reason string // empty: must decode
	}{
		{"64 digit bytes", append(bytes.Repeat([]byte{0}, 64), bananaInt), ""},
		{"65 digit bytes", append(bytes.Repeat([]byte{0}, 65), bananaInt), "more than 64 digit bytes"},
		{"string at the limit", append(append(digits(bananaSizeLimit), bananaString), make([]byte, bananaSizeLimit)...), ""},
		{"string over the limit", append(digits(bananaSizeLimit+1), bananaString), "string of 655361 bytes exceeds 655360"},
		{"list over the limit", append(digits(bananaSizeLimit+1), bananaList), "list of 655361 items exceeds 655360"},
		{"huge list count", append(bytes.Repeat([]byte{0x7f}, 20), bananaList), "exceeds 655360"},
		{"depth at the cap", append(bytes.Repeat([]byte{1, bananaList}, 511), 0, bananaList), ""},
		{"depth over the cap", append(bytes.Repeat([]byte{1, bananaList}, 512), 0, bananaList), "nested deeper than 512"},
		{"invalid type byte", []byte{0x05, 0x88}, "invalid type byte 0x88"},
		{"type byte 0xff", []byte{0xff}, "invalid type byte 0xff"},
	}
	for _, c := range cases {
		d := newBananaDecoder(lim)
		d.setDialect(true)
		got, err := d.feed(c.raw)
		if c.reason == "" {
			if err != nil || len(got) != 1 {
				t.Errorf("%s: %v, %d expressions; want one", c.name, err, len(got))
			}
			continue
		}
		var be *BananaError
		if !errors.As(err, &be) || !errors.Is(err, ErrProtocol) || !strings.Contains(be.Reason, c.reason) {
			t.Errorf("%s: %v, want a BananaError with %q", c.name, err, c.reason)
			continue
		}
		// The error sticks.
		if _, err2 := d.feed([]byte{0, bananaInt}); err2 != err {
			t.Errorf("%s: feed after error = %v, want the same error", c.name, err2)
		}
	}
	// The list count is checked before the items arrive, and a list's
	// memory grows with its items, not its announced count.
	d := newBananaDecoder(lim)
	d.setDialect(false)
	if _, err := d.feed(append(digits(bananaSizeLimit), bananaList)); err != nil {
		t.Fatal(err)
	}
	if c := cap(d.stack[0].items); c > 16 {
		t.Errorf("an announced list of %d items reserved %d slots", bananaSizeLimit, c)
	}
}

func TestBananaExpressionCap(t *testing.T) {
	lim := defaultBananaLimits
	// A list of one 96-byte string: 100 bytes and two tokens.
	lim.maxExpr = 100 + 2*bananaItemCost
	ok := append([]byte{1, bananaList, 96, bananaString}, make([]byte, 96)...)
	if got, err := decodeAll(t, lim, ok, false); err != nil || len(got) != 1 {
		t.Fatalf("an expression at the cap: %v", err)
	}
	// Twice in a row: the cap is per expression.
	if got, err := decodeAll(t, lim, append(ok, ok...), false); err != nil || len(got) != 2 {
		t.Fatalf("two expressions at the cap: %v", err)
	}
	over := append([]byte{1, bananaList, 97, bananaString}, make([]byte, 97)...)
	if _, err := decodeAll(t, lim, over, false); err == nil || !strings.Contains(err.Error(), "costs more than 196 bytes") {
		t.Fatalf("one byte over the cap: %v", err)
	}
	// Tokens count: three one-byte-shorter strings cost more than one long one.
	many := []byte{3, bananaList, 30, bananaString}
	many = append(many, make([]byte, 30)...)
	many = append(many, 30, bananaString)
	many = append(many, make([]byte, 30)...)
	many = append(many, 30, bananaString)
	many = append(many, make([]byte, 30)...)
	if _, err := decodeAll(t, lim, many, false); err == nil {
		t.Fatal("98 bytes in four tokens passed a cap of 100 bytes in two")
	}
	// One that never ends fails as soon as it passes the cap.
	d := newBananaDecoder(lim)
	d.setDialect(false)
	if _, err := d.feed(append([]byte{0x7f, 0x7f, bananaList}, bytes.Repeat([]byte{0, bananaList}, 50)...)); err == nil {
		t.Fatal("an endless list passed the expression cap")
	}
	// The default cap holds a full list of small ints and a hundred
	// strings of 600 KiB.
	ints := append(appendDigits(nil, bananaSizeLimit), bananaList)
	ints = append(ints, bytes.Repeat([]byte{0x7f, bananaInt}, bananaSizeLimit)...)
	if got, err := decodeAll(t, defaultBananaLimits, ints, false); err != nil || len(got) != 1 {
		t.Fatalf("a full list of ints: %v", err)
	}
	d = newBananaDecoder(defaultBananaLimits)
	d.setDialect(false)
	str := append(appendDigits(nil, 600<<10), bananaString)
	str = append(str, make([]byte, 600<<10)...)
	if _, err := d.feed([]byte{100, bananaList}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		got, err := d.feed(str)
		if err != nil || (i < 99) != (len(got) == 0) {
			t.Fatalf("string %d: %v, %d expressions", i, err, len(got))
		}
	}
}

func TestBananaByteAtATime(t *testing.T) {
	v := []any{[]byte("message"), int64(1), []byte("root"), bigPow2(100), -2.25, []any{[]byte("tuple"), []any{}, []byte("")}}
	enc, err := appendBanana(nil, v, true)
	if err != nil {
		t.Fatal(err)
	}
	enc = append(enc, enc...)
	got, err := decodeAll(t, defaultBananaLimits, enc, true)
	if err != nil || len(got) != 2 || !bananaEqual(got[0], v) || !bananaEqual(got[1], v) {
		t.Fatalf("byte at a time: %v, %v", got, err)
	}
	// Empty feeds return nothing and change nothing.
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(true)
	for range 3 {
		if got, err := d.feed(nil); got != nil || err != nil {
			t.Fatalf("feed(nil) = %v, %v", got, err)
		}
	}
}

func TestBananaDecoderCopiesInput(t *testing.T) {
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(false)
	in := []byte{0x03, bananaString, 'a', 'b', 'c'}
	got, err := d.feed(in)
	if err != nil {
		t.Fatal(err)
	}
	in[2] = 'X'
	if string(got[0].([]byte)) != "abc" {
		t.Fatalf("the decoded string aliases the input: %q", got[0])
	}
}

// While negotiating, feed stops after the first expression and keeps the
// bytes behind it, which may use the vocabulary of the dialect chosen.
func TestBananaNegotiationHoldsInput(t *testing.T) {
	raw := mustHex(t, "02 82 70 62 02 80 13 87 06 81") // 'pb', ['version', 6]
	d := newBananaDecoder(defaultBananaLimits)
	got, err := d.feed(raw)
	if err != nil || len(got) != 1 || string(got[0].([]byte)) != "pb" {
		t.Fatalf("first feed = %v, %v; want only 'pb'", got, err)
	}
	pb, err := acceptDialect(got[0])
	if err != nil || !pb {
		t.Fatalf("acceptDialect = %v, %v", pb, err)
	}
	// More input before setDialect is held too.
	if got, err := d.feed([]byte{0x00, bananaInt}); got != nil || err != nil {
		t.Fatalf("feed while holding = %v, %v", got, err)
	}
	d.setDialect(pb)
	got, err = d.feed(nil)
	if err != nil || len(got) != 2 || formatExpr(got[0]) != "['version', 6]" || got[1] != int64(0) {
		t.Fatalf("after setDialect: %v, %v", got, err)
	}
}

func TestDialectNegotiation(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	for _, c := range []struct {
		offer []any
		want  string
	}{
		{[]any{b("pb"), b("none")}, "pb"},
		{[]any{b("none"), b("pb")}, "none"},
		{[]any{b("zlib"), b("pb")}, "pb"},
	} {
		got, err := chooseDialect(c.offer)
		if err != nil || string(got) != c.want {
			t.Errorf("chooseDialect(%s) = %q, %v; want %q", formatOffer(c.offer), got, err, c.want)
		}
	}
	for _, offer := range [][]any{{}, {b("zlib")}, {int64(1), b("pb")}} {
		if _, err := chooseDialect(offer); !errors.Is(err, ErrProtocol) {
			t.Errorf("chooseDialect(%s) = %v, want ErrProtocol", formatOffer(offer), err)
		}
	}
	if pb, err := acceptDialect(b("none")); err != nil || pb {
		t.Errorf("acceptDialect(none) = %v, %v", pb, err)
	}
	for _, choice := range []any{b("zlib"), []any{b("pb")}, int64(0)} {
		if _, err := acceptDialect(choice); !errors.Is(err, ErrProtocol) {
			t.Errorf("acceptDialect(%v) = %v, want ErrProtocol", choice, err)
		}
	}
}

func TestBananaEncodeRefuses(t *testing.T) {
	deep := []any{}
	for range 512 {
		deep = []any{deep}
	}
	for _, v := range []any{
		true, nil, uint(3), map[string]any{}, (*big.Int)(nil),
		make([]byte, bananaSizeLimit+1), strings.Repeat("x", bananaSizeLimit+1),
		make([]any, bananaSizeLimit+1), deep,
	} {
		buf := []byte("keep")
		out, err := appendBanana(buf, v, true)
		if !errors.Is(err, ErrUnsendable) {
			t.Errorf("appendBanana(%T) = %v, want ErrUnsendable", v, err)
		}
		if string(out) != "keep" {
			t.Errorf("appendBanana(%T) changed buf on error", v)
		}
	}
	if _, err := appendBanana(nil, make([]byte, bananaSizeLimit), false); err != nil {
		t.Errorf("a string at the limit: %v", err)
	}
}

// The expressions complete before a bad byte come with the error, in the same
// feed, as Twisted dispatches each one before it reads the next.
func TestBananaErrorKeepsEarlierExpressions(t *testing.T) {
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(true)
	got, err := d.feed(mustHex(t, "02 80 13 87 06 81 02 80 1d 87 01 81 01 88"))
	var be *BananaError
	if !errors.As(err, &be) || be.Offset != 13 || !strings.Contains(be.Reason, "invalid type byte 0x88") {
		t.Fatalf("error %v, want invalid type byte at offset 13", err)
	}
	if len(got) != 2 || formatExpr(got[0]) != "['version', 6]" || formatExpr(got[1]) != "['decref', 1]" {
		t.Fatalf("expressions before the error: %v", got)
	}
}

func BenchmarkBananaDecodeSeed(b *testing.B) {
	raw, err := readFileCapture("seed-server-to-client.bin")
	if err != nil {
		b.Fatal(err)
	}
	raw = raw[12:] // after the dialect offer
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(true)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if got, err := d.feed(raw); err != nil || len(got) != 4 {
			b.Fatal(err)
		}
	}
}

func BenchmarkBananaEncodeSeed(b *testing.B) {
	cmd := []any{"message", int64(1), int64(1), "print", int64(1), []any{"tuple", int64(12)}, []any{"dictionary"}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = appendBanana(buf[:0], cmd, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBananaDecodedIndependent checks that decoded strings and lists, which
// share the decoder's blocks, do not reach each other: appending to one
// leaves the next as it was.
func TestBananaDecodedIndependent(t *testing.T) {
	in, err := appendBanana(nil, []any{[]byte("ab"), []byte("cd"), []any{int64(1)}, []any{int64(2)}, []byte("version")}, true)
	if err != nil {
		t.Fatal(err)
	}
	d := newBananaDecoder(defaultBananaLimits)
	d.setDialect(true)
	out, err := d.feed(in)
	if err != nil || len(out) != 1 {
		t.Fatalf("feed: %v, %v", out, err)
	}
	l := out[0].([]any)
	_ = append(l[0].([]byte), "XY"...)
	_ = append(l[2].([]any), "X")
	want := []any{[]byte("ab"), []byte("cd"), []any{int64(1)}, []any{int64(2)}, []byte("version")}
	if !reflect.DeepEqual(want, l) {
		t.Errorf("after appends: %q, want %q", l, want)
	}
}
