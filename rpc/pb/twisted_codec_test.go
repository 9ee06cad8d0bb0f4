package pb

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// codecPython returns Debian's Python 3 when it has Twisted. Without it the
// test skips, unless FIREFLY_REQUIRE_TWISTED=1 (CI) makes that a failure.
func codecPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import twisted.spread.pb").Run(); err != nil {
		if os.Getenv("FIREFLY_REQUIRE_TWISTED") == "1" {
			t.Fatalf("FIREFLY_REQUIRE_TWISTED=1 but %s cannot import twisted: %v", py, err)
		}
		t.Skipf("%s cannot import twisted (apt-get install python3-twisted): %v", py, err)
	}
	return py
}

// twistedCases are the Go twins of the cases in testdata/twisted_codec.py.
func twistedCases() []struct {
	name string
	v    any
} {
	x := []any{int64(1), int64(2)}
	y := []any{int64(3)}
	cyclic := make([]any, 2)
	cyclic[0] = int64(7)
	cyclic[1] = cyclic
	d := &Dict{}
	d.Items = []DictItem{{"self", d}}
	max448 := new(big.Int).Sub(bigPow2(448), big.NewInt(1))
	st, fs, tp := Set{int64(1)}, FrozenSet{int64(2)}, Tuple{int64(1), int64(2)}
	return []struct {
		name string
		v    any
	}{
		{"echo", capturedEchoArgs()},
		{"kwargs", &Dict{Items: []DictItem{{"name", "Bob"}}}},
		{"point", Point{1, 2.5}},
		{"shared", Tuple{x, y, y, x}},
		{"cyclic_list", cyclic},
		{"cyclic_dict", d},
		{"times", Tuple{time.Date(2024, 2, 29, 13, 4, 5, 6007000, time.UTC), -1500 * time.Millisecond, 36 * time.Hour}},
		{"ints", Tuple{bigPow2(447), new(big.Int).Neg(bigPow2(447)), bigPow2(63), int64(math.MinInt64),
			new(big.Int).SetUint64(math.MaxUint64), max448}},
		{"floats", Tuple{0.1, math.Inf(1), -1e300, 5e-324}},
		{"shared_sets", Tuple{st, st, fs, fs, tp, tp}},
		{"nested", &Dict{Items: []DictItem{
			{"a", []any{Tuple{int64(1), FrozenSet{int64(2)}}, &Dict{Items: []DictItem{{int64(3), nil}}}}},
			{Tuple{int64(1), int64(2)}, []byte("x")},
		}}},
	}
}

func runCodec(t *testing.T, py, mode, stdin string) map[string]string {
	t.Helper()
	cmd := exec.Command(py, "testdata/twisted_codec.py", mode)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("twisted_codec.py %s: %v\n%s", mode, err, stderr.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		got[name] = rest
	}
	return got
}

func goBytes(t *testing.T, v any) []byte {
	t.Helper()
	sexp, err := jelly(v, nil, false)
	if err != nil {
		t.Fatalf("jelly: %v", err)
	}
	enc, err := appendBanana(nil, sexp, true)
	if err != nil {
		t.Fatalf("appendBanana: %v", err)
	}
	return enc
}

// Twisted 22.4's jelly and Banana and this package's produce the same bytes
// for the same values, and Twisted decodes what this package writes back to
// the same values (it re-encodes them to the same bytes).
func TestTwistedCodecInterop(t *testing.T) {
	py := codecPython(t)
	twisted := runCodec(t, py, "encode", "")
	var in strings.Builder
	for _, c := range twistedCases() {
		enc := goBytes(t, c.v)
		if got := hex.EncodeToString(enc); got != twisted[c.name] {
			t.Errorf("%s: Go writes\n%s\nTwisted writes\n%s", c.name, got, twisted[c.name])
		}
		// And the Go decoder reads Twisted's bytes back to the same value.
		tb, err := hex.DecodeString(twisted[c.name])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		exprs, err := decodeStream(defaultBananaLimits, tb, len(tb))
		if err != nil || len(exprs) != 1 {
			t.Fatalf("%s: decode Twisted's bytes: %v", c.name, err)
		}
		v, err := unjelly(exprs[0], nil, defaultBananaLimits)
		if err != nil {
			t.Fatalf("%s: unjelly Twisted's bytes: %v", c.name, err)
		}
		if again := goBytes(t, v); !bytes.Equal(again, tb) {
			t.Errorf("%s: Twisted's value re-encodes differently:\n%x\n%x", c.name, again, tb)
		}
		fmt.Fprintf(&in, "%s %x\n", c.name, enc)
	}
	failures := []struct {
		name string
		f    *Failure
		want string
	}{
		{"value_error", &Failure{Type: "builtins.ValueError", Value: "bad",
			Parents: []string{"builtins.ValueError", "builtins.Exception", "builtins.BaseException", "builtins.object"}},
			"[True, False, False, 'bad', 'bytes', \"b'builtins.ValueError'\"]"},
		{"pb_error", &Failure{Type: "twisted.spread.pb.Error", Value: "not today",
			Parents: []string{"twisted.spread.pb.Error", "builtins.Exception", "builtins.BaseException", "builtins.object"}},
			"[False, True, False, 'not today', 'bytes', \"b'twisted.spread.pb.Error'\"]"},
		{"default_parents", &Failure{Type: "builtins.KeyError", Value: "k"},
			"[False, False, True, 'k', 'bytes', \"b'builtins.KeyError'\"]"},
	}
	for _, f := range failures {
		fmt.Fprintf(&in, "%s %x\n", f.name, goBytes(t, f.f))
	}
	back := runCodec(t, py, "roundtrip", in.String())
	for _, c := range twistedCases() {
		if want := hex.EncodeToString(goBytes(t, c.v)); back[c.name] != want {
			t.Errorf("%s: Twisted decoded the Go bytes and re-encoded\n%s\nnot\n%s", c.name, back[c.name], want)
		}
	}
	for _, f := range failures {
		if got := back[f.name]; got != "failure "+f.want {
			t.Errorf("%s: Twisted's CopiedFailure checks %s, want %s", f.name, got, f.want)
		}
	}
}
