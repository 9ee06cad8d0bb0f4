package pb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// capturesDir holds the raw bytes of the Twisted docs' PB seed exchange,
// captured between Twisted 22.4 peers (PB-WIRE.md §10).
const capturesDir = "../../../shared/reference/pb-captures"

func readFileCapture(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(capturesDir, name))
}

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readFileCapture(name)
	if err != nil {
		t.Fatalf("the Twisted captures must be present at %s (relative to rpc/pb): %v", capturesDir, err)
	}
	return b
}

// captureSegment is one TCP segment of seed-annotated.txt.
type captureSegment struct {
	fromServer bool
	raw        []byte
	exprs      []string // the "=> expression:" lines
}

func readAnnotated(t *testing.T) []captureSegment {
	t.Helper()
	text := readCapture(t, "seed-annotated.txt")
	var segs []captureSegment
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "--- "):
			segs = append(segs, captureSegment{fromServer: strings.Contains(line, "server(pb3server.py) -> client")})
		case strings.HasPrefix(line, "raw: "):
			raw, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(line, "raw: "), " ", ""))
			if err != nil || len(segs) == 0 {
				t.Fatalf("seed-annotated.txt: bad raw line %q: %v", line, err)
			}
			segs[len(segs)-1].raw = raw
		case strings.HasPrefix(line, "=> expression: "):
			if len(segs) == 0 {
				t.Fatalf("seed-annotated.txt: expression before any segment")
			}
			s := &segs[len(segs)-1]
			s.exprs = append(s.exprs, strings.TrimPrefix(line, "=> expression: "))
		}
	}
	if len(segs) == 0 {
		t.Fatal("seed-annotated.txt holds no segments")
	}
	return segs
}

// formatExpr prints a decoded Banana expression the way seed-annotated.txt
// does: strings quoted with single quotes, lists in brackets.
func formatExpr(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(e)
			}
			b.WriteByte(']')
		case string: // a tag or text atom of an expression built to be sent
			walk([]byte(v))
		case []byte:
			b.WriteByte('\'')
			for _, c := range v {
				if c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' {
					b.WriteByte(c)
				} else {
					fmt.Fprintf(&b, "\\x%02x", c)
				}
			}
			b.WriteByte('\'')
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case *big.Int:
			b.WriteString(v.String())
		case float64: // as Python's repr: 2.0, -0.0, 1e+100, nan
			f := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(f, ".eIN") {
				f += ".0"
			}
			b.WriteString(f)
		default:
			fmt.Fprintf(&b, "<%T %v>", v, v)
		}
	}
	walk(v)
	return b.String()
}

// decodeDirection decodes one direction's bytes as its receiver would: the
// first expression in dialect negotiation, the rest in dialect "pb".
func decodeDirection(t *testing.T, raw []byte, split int) []any {
	t.Helper()
	d := newBananaDecoder(defaultBananaLimits)
	var all []any
	for len(raw) > 0 {
		n := min(split, len(raw))
		got, err := d.feed(raw[:n])
		raw = raw[n:]
		if err != nil {
			t.Fatalf("feed: %v", err)
		}
		all = append(all, got...)
		if len(all) == 1 && len(got) > 0 {
			d.setDialect(true)
			more, err := d.feed(nil)
			if err != nil {
				t.Fatalf("feed after setDialect: %v", err)
			}
			all = append(all, more...)
		}
	}
	return all
}

func TestGoldenSeedCaptures(t *testing.T) {
	segs := readAnnotated(t)
	for _, dir := range []struct {
		name       string
		file       string
		fromServer bool
	}{
		{"client-to-server", "seed-client-to-server.bin", false},
		{"server-to-client", "seed-server-to-client.bin", true},
	} {
		t.Run(dir.name, func(t *testing.T) {
			raw := readCapture(t, dir.file)
			var wantRaw []byte
			var want []string
			for _, s := range segs {
				if s.fromServer == dir.fromServer {
					wantRaw = append(wantRaw, s.raw...)
					want = append(want, s.exprs...)
				}
			}
			if !bytes.Equal(raw, wantRaw) {
				t.Fatalf("%s differs from the raw lines of seed-annotated.txt", dir.file)
			}
			for _, split := range []int{1, 2, 3, 7, len(raw)} {
				got := decodeDirection(t, raw, split)
				if len(got) != len(want) {
					t.Fatalf("split %d: decoded %d expressions, the annotation has %d", split, len(got), len(want))
				}
				for i := range got {
					if s := formatExpr(got[i]); s != want[i] {
						t.Errorf("split %d: expression %d = %s, annotated %s", split, i, s, want[i])
					}
				}
			}
			// Re-encode: the negotiation expression without the vocabulary,
			// everything after it in dialect "pb", byte for byte as Twisted.
			var enc []byte
			for i, e := range decodeDirection(t, raw, len(raw)) {
				var err error
				if enc, err = appendBanana(enc, e, i > 0); err != nil {
					t.Fatalf("encode expression %d: %v", i, err)
				}
			}
			if !bytes.Equal(enc, raw) {
				t.Fatalf("re-encoded bytes differ from Twisted's:\n got % x\nwant % x", enc, raw)
			}
		})
	}
}

func TestGoldenServerHello(t *testing.T) {
	raw := readCapture(t, "seed-server-to-client.bin")
	hello := bananaServerHello()
	if !bytes.HasPrefix(raw, hello) {
		t.Fatalf("bananaServerHello() = % x, Twisted's server starts with % x", hello, raw[:len(hello)])
	}
	d := newBananaDecoder(defaultBananaLimits)
	got, err := d.feed(hello)
	if err != nil || len(got) != 1 {
		t.Fatalf("decode hello: %v, %d expressions", err, len(got))
	}
	choice, err := chooseDialect(got[0].([]any))
	if err != nil || string(choice) != "pb" {
		t.Fatalf("chooseDialect = %q, %v; want pb", choice, err)
	}
	reply, err := appendBanana(nil, choice, false)
	if err != nil {
		t.Fatal(err)
	}
	client := readCapture(t, "seed-client-to-server.bin")
	if !bytes.HasPrefix(client, reply) {
		t.Fatalf("client reply % x, Twisted's client starts with % x", reply, client[:len(reply)])
	}
}

// parseExpr reads an expression written as formatExpr prints it (lists in
// brackets, strings in single quotes with \xNN escapes, integers, floats)
// into what bananaDecoder would produce.
func parseExpr(t *testing.T, s string) any {
	t.Helper()
	p := exprParser{s: s}
	v, err := p.value()
	if err == nil && strings.TrimSpace(p.s[p.i:]) != "" {
		err = fmt.Errorf("trailing %q", p.s[p.i:])
	}
	if err != nil {
		t.Fatalf("parseExpr(%q): %v", s, err)
	}
	return v
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *exprParser) value() (any, error) {
	p.skip()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '[':
		p.i++
		l := []any{}
		for {
			p.skip()
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return l, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
	case c == '\'':
		p.i++
		var b []byte
		for p.i < len(p.s) && p.s[p.i] != '\'' {
			if p.s[p.i] == '\\' && p.i+3 < len(p.s) && p.s[p.i+1] == 'x' {
				n, err := strconv.ParseUint(p.s[p.i+2:p.i+4], 16, 8)
				if err != nil {
					return nil, err
				}
				b = append(b, byte(n))
				p.i += 4
				continue
			}
			b = append(b, p.s[p.i])
			p.i++
		}
		p.i++
		if b == nil {
			b = []byte{}
		}
		return b, nil
	default:
		j := p.i
		for j < len(p.s) && strings.IndexByte("+-0123456789.eEinfa", p.s[j]) >= 0 {
			j++
		}
		tok := p.s[p.i:j]
		p.i = j
		if n, ok := new(big.Int).SetString(tok, 10); ok {
			if n.IsInt64() {
				return n.Int64(), nil
			}
			return n, nil
		}
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, fmt.Errorf("bad token %q", tok)
		}
		return f, nil
	}
}

// The jellied values of PB-WIRE.md §11 (Twisted 22.4 to Twisted 22.4): each
// unjellies and jellies back to the same expression and the same bytes in
// dialect pb.
func TestGoldenCapturedShapes(t *testing.T) {
	echoArgs := `['tuple', 0, 1, 127, 128, 2147483647, 2147483648, -1, -2147483648, -2147483649, 18446744073709551616, ` +
		`1.5, -0.0, 'bytes', ['unicode', 'unicod\xc3\xa9'], 'list', ['list', 1, 2], ['tuple', 1, 2], ` +
		`['dictionary', [['unicode', 'a'], 1], ['b', ['list', ['None']]]], ['None'], ['boolean', 'true'], ` +
		`['boolean', 'false'], ['set', 3], ['frozenset', 4], ['reference', 1, ['list', 1, 2]], ['dereference', 1], ` +
		`['list'], ['tuple']]`
	echoKw := `['dictionary', [['unicode', 'name'], ['unicode', 'Bob']]]`
	for _, text := range []string{
		echoArgs,
		echoKw,
		"['tuple', " + echoArgs + ", " + echoKw + "]", // the echo's answer
		"['__main__.Point', ['dictionary', [['unicode', 'x'], 1], [['unicode', 'y'], 2.5]]]",
		"['remote', 1]",
		"['tuple', ['local', 3]]",
		"['tuple', ['tuple', ['remote', 3]], ['dictionary']]",
		"['tuple', 7]",
		"['dictionary', [['unicode', 'tag'], ['unicode', 'x']]]",
		"['tuple', 42]",
		"['tuple', ['remote', 1]]",
		"['dictionary']",
		"['None']",
	} {
		sexp := parseExpr(t, text)
		want, err := appendBanana(nil, sexp, true)
		if err != nil {
			t.Fatalf("encode %s: %v", text, err)
		}
		v, err := unjelly(sexp, fuzzHooks{}, defaultBananaLimits)
		if err != nil {
			t.Fatalf("unjelly %s: %v", text, err)
		}
		back, err := jelly(v, fuzzHooks{}, false)
		if err != nil {
			t.Fatalf("jelly of %s: %v", text, err)
		}
		if got := formatExpr(back); got != text {
			t.Errorf("round trip:\n got %s\nwant %s", got, text)
		}
		if enc, err := appendBanana(nil, back, true); err != nil || !bytes.Equal(enc, want) {
			t.Errorf("%s: bytes differ:\n got % x\nwant % x", text, enc, want)
		}
	}
}
