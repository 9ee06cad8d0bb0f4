package pb

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// ErrProtocol reports a peer that broke Twisted's wire: a byte stream that is
// not Banana, a limit exceeded, or a jelly expression that makes no sense. Every
// *BananaError and *JellyError matches it with errors.Is.
var ErrProtocol = errors.New("pb: protocol error")

// ErrUnsendable reports a value that cannot go out on Twisted's wire: a type
// Banana or Jelly has no form for, a string or list over Banana's size limit,
// an integer of 2^448 or more, or nesting deeper than the depth cap. Nothing
// is written when it is returned.
var ErrUnsendable = errors.New("pb: value cannot be sent")

// BananaError reports a Banana byte stream the decoder refuses: an invalid
// type byte, a limit exceeded, a vocabulary token outside the pb dialect or
// outside the vocabulary. It matches ErrProtocol.
type BananaError struct {
	// Reason says what was wrong, for example "invalid type byte 0x88".
	Reason string
	// Offset is the position in the stream, counted from the decoder's first
	// byte, of the byte that made the stream invalid.
	Offset int64
}

// Error describes what in the banana stream was malformed.
func (e *BananaError) Error() string {
	return fmt.Sprintf("pb: banana: %s (at byte %d)", e.Reason, e.Offset)
}

// Unwrap makes a *BananaError match ErrProtocol.
func (e *BananaError) Unwrap() error { return ErrProtocol }

// Banana type bytes (PB-WIRE.md §2.1). A token is zero or more digit bytes
// (0x00-0x7F, base 128, least significant first) and one type byte.
const (
	bananaList    = 0x80
	bananaInt     = 0x81
	bananaString  = 0x82
	bananaNeg     = 0x83
	bananaFloat   = 0x84
	bananaLongInt = 0x85
	bananaLongNeg = 0x86
	bananaVocab   = 0x87
)

// bananaLimits bounds what a decoder accepts from its peer and what the
// encoder agrees to send. Breaking one is fatal for the connection.
type bananaLimits struct {
	// maxDigits is the number of digit bytes allowed before a type byte
	// (Twisted's _PREFIX_LIMIT, 64: integers up to 2^448-1).
	maxDigits int
	// maxString is the largest STRING length in bytes (SIZE_LIMIT).
	maxString int
	// maxList is the largest LIST element count (SIZE_LIMIT).
	maxList int
	// maxDepth is the deepest list nesting; a top-level list is depth 1.
	maxDepth int
	// maxExpr bounds one top-level expression's cost: its bytes on the
	// wire plus bananaItemCost for every token (value or list) in it, which
	// is at least what the decoded values take in memory. Twisted sets no
	// such cap; without one a stream of two-byte tokens would take some 20
	// times its size. Zero means no cap.
	maxExpr int
}

// Banana's limits as Twisted 22.4 applies them, plus the two caps Twisted
// leaves to the Python interpreter or to memory.
const (
	bananaPrefixLimit = 64         // banana._PREFIX_LIMIT
	bananaSizeLimit   = 640 * 1024 // banana.SIZE_LIMIT, 655,360
	// bananaDepthLimit caps list nesting at 512. Jelly needs one Banana
	// level per container, so Python's recursion limit of about 1000 stops
	// a Twisted peer before it sends or receives anything deeper.
	bananaDepthLimit = 512
	// bananaExprLimit caps one top-level expression's cost at 64 MiB, the
	// size of the largest message on firefly's own wire. A list of 655,360
	// small ints costs 33 MB; 100 strings of 600 KiB cost 60 MiB.
	bananaExprLimit = 64 << 20
	// bananaItemCost is what each token adds to an expression's cost: the
	// most a decoded value was measured to take beyond its bytes (a list
	// holding one int takes 60 bytes for its two tokens; a vocabulary word
	// 47).
	bananaItemCost = 48
)

// defaultBananaLimits are the limits every connection uses unless it says
// otherwise. The variable is never modified; copy it to change a field.
var defaultBananaLimits = bananaLimits{
	maxDigits: bananaPrefixLimit,
	maxString: bananaSizeLimit,
	maxList:   bananaSizeLimit,
	maxDepth:  bananaDepthLimit,
	maxExpr:   bananaExprLimit,
}

// Dialect states of a decoder.
const (
	dialectUndecided = iota // negotiating: stop after each top-level expression
	dialectNone
	dialectPB
)

// Decoder states: what the next input byte is.
const (
	stateToken  = iota // a digit or a type byte
	stateString        // one of a STRING's bytes
	stateFloat         // one of a FLOAT's 8 bytes
)

type bananaFrame struct {
	left  int // elements still to come
	items []any
}

// bananaDecoder turns a Banana byte stream, split anywhere, into expressions:
// a LIST becomes []any, INT/NEG/LONGINT/LONGNEG become int64 (or *big.Int
// outside int64's range), FLOAT becomes float64, STRING becomes a fresh
// []byte, and a VOCAB token becomes a fresh []byte of its word (dialect "pb"
// only). Values are canonical: an integer is an int64 whenever it fits.
//
// Until setDialect is called the decoder is negotiating: feed returns at most
// one top-level expression (the server's offer, or the client's choice) and
// holds the bytes after it, since they may use the vocabulary of the dialect
// about to be chosen. After setDialect, feed(nil) decodes what was held.
//
// After an error the decoder is dead: every later feed returns the same error.
// A decoder is not safe for concurrent use.
type bananaDecoder struct {
	lim     bananaLimits
	dialect int
	state   int
	err     error
	off     int64 // bytes consumed so far
	start   int64 // offset where the current top-level expression began
	tokens  int64 // type bytes in the current top-level expression
	digits  []byte
	need    int     // bytes still missing in stateString or stateFloat
	str     []byte  // STRING being filled
	fbuf    [8]byte // FLOAT being filled
	stack   []bananaFrame
	held    []byte // input after a negotiation expression
	holding bool   // a negotiation expression was returned; wait for setDialect

	// Small strings and lists are carved from shared blocks, each with its
	// capacity cut to its length, so that appending to one never reaches
	// the next; a block is never written again once carved.
	strBlock  []byte
	listBlock []any
}

// Sizes of the decoder's blocks, and the largest string or list carved from
// one (a larger one gets its own allocation).
const (
	bananaStrBlock  = 2048
	bananaListBlock = 128
	bananaCarveStr  = 128
	bananaCarveList = 16
)

// newStr returns an empty slice with capacity n for a STRING's bytes.
func (d *bananaDecoder) newStr(n int) []byte {
	if n > bananaCarveStr {
		return make([]byte, 0, n)
	}
	return carve(&d.strBlock, n, bananaStrBlock)
}

// newList returns an empty slice for a LIST of n items: with capacity n
// when it is small, else with room for the first bananaCarveList items (a
// count is only a claim until the items arrive).
func (d *bananaDecoder) newList(n int) []any {
	if n > bananaCarveList {
		return make([]any, 0, bananaCarveList)
	}
	return carve(&d.listBlock, n, bananaListBlock)
}

// carve returns an empty slice of capacity n taken from *block, which it
// replaces with a new block of size elements when it has no room left.
func carve[T any](block *[]T, n, size int) []T {
	if len(*block)+n > cap(*block) {
		*block = make([]T, 0, size)
	}
	k := len(*block)
	*block = (*block)[:k+n]
	return (*block)[k : k : k+n]
}

// newBananaDecoder returns a decoder with the limits lim, negotiating.
func newBananaDecoder(lim bananaLimits) *bananaDecoder {
	return &bananaDecoder{lim: lim, digits: make([]byte, 0, 16)}
}

// setDialect ends negotiation: pb true selects dialect "pb" (VOCAB tokens
// accepted), false dialect "none" (a VOCAB token is an error, as in Twisted
// 16.5 and later). It may also be called before any input, to skip
// negotiation.
func (d *bananaDecoder) setDialect(pb bool) {
	if pb {
		d.dialect = dialectPB
	} else {
		d.dialect = dialectNone
	}
	d.holding = false
}

// fail kills the decoder with an error about the byte at offset at.
func (d *bananaDecoder) fail(at int64, reason string, args ...any) error {
	d.err = &BananaError{Reason: fmt.Sprintf(reason, args...), Offset: at}
	d.stack = nil
	d.str = nil
	d.held = nil
	d.strBlock, d.listBlock = nil, nil
	return d.err
}

// feed consumes p and returns the top-level expressions it completed, in
// order. Bytes of an unfinished expression are kept for the next call. feed
// never keeps a reference to p. On an error it returns the expressions
// completed before the bad byte with it, as Twisted dispatches each command
// the moment it is complete.
func (d *bananaDecoder) feed(p []byte) ([]any, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.holding {
		if len(p) == 0 {
			return nil, nil
		}
		if len(d.held)+len(p) > max(d.lim.maxExpr, 1<<20) {
			return nil, d.fail(d.off+int64(len(d.held)), "%d bytes arrived before the dialect was chosen", len(d.held)+len(p))
		}
		d.held = append(d.held, p...)
		return nil, nil
	}
	if len(d.held) > 0 {
		p = append(d.held, p...)
		d.held = nil
	}
	var out []any
	for len(p) > 0 {
		switch d.state {
		case stateString:
			n := min(d.need, len(p))
			d.str = append(d.str, p[:n]...)
			p = p[n:]
			d.off += int64(n)
			d.need -= n
			if d.need == 0 {
				v := d.str
				d.str = nil
				d.state = stateToken
				out = d.got(v, out)
			}
		case stateFloat:
			n := min(d.need, len(p))
			copy(d.fbuf[8-d.need:], p[:n])
			p = p[n:]
			d.off += int64(n)
			d.need -= n
			if d.need == 0 {
				d.state = stateToken
				bits := uint64(d.fbuf[0])<<56 | uint64(d.fbuf[1])<<48 | uint64(d.fbuf[2])<<40 |
					uint64(d.fbuf[3])<<32 | uint64(d.fbuf[4])<<24 | uint64(d.fbuf[5])<<16 |
					uint64(d.fbuf[6])<<8 | uint64(d.fbuf[7])
				out = d.got(math.Float64frombits(bits), out)
			}
		default:
			i := 0
			for i < len(p) && p[i] < 0x80 {
				i++
			}
			if len(d.digits)+i > d.lim.maxDigits {
				return out, d.fail(d.off+int64(d.lim.maxDigits-len(d.digits)), "more than %d digit bytes before a type byte", d.lim.maxDigits)
			}
			d.digits = append(d.digits, p[:i]...)
			d.off += int64(i)
			p = p[i:]
			if len(p) == 0 {
				break
			}
			typ := p[0]
			p = p[1:]
			d.off++
			var err error
			out, err = d.token(typ, out)
			if err != nil {
				return out, err
			}
		}
		if d.err != nil {
			return out, d.err
		}
		if d.lim.maxExpr > 0 && (len(d.stack) > 0 || d.state != stateToken || len(d.digits) > 0) && d.overCost() {
			return out, d.fail(d.off-1, "expression costs more than %d bytes", d.lim.maxExpr)
		}
		if d.dialect == dialectUndecided && len(out) > 0 {
			if len(p) > 0 {
				d.held = append([]byte(nil), p...)
			}
			d.holding = true
			break
		}
	}
	return out, nil
}

// overCost reports whether the current expression costs more than maxExpr.
func (d *bananaDecoder) overCost() bool {
	return d.off-d.start+d.tokens*bananaItemCost > int64(d.lim.maxExpr)
}

// token handles type byte typ, just consumed, after the digits in d.digits.
func (d *bananaDecoder) token(typ byte, out []any) ([]any, error) {
	d.tokens++
	digits := d.digits
	d.digits = d.digits[:0]
	switch typ {
	case bananaList:
		n, ok := smallDigits(digits)
		if !ok || n > uint64(d.lim.maxList) {
			return out, d.fail(d.off-1, "list of %s items exceeds %d", digitString(digits), d.lim.maxList)
		}
		if len(d.stack) >= d.lim.maxDepth {
			return out, d.fail(d.off-1, "lists nested deeper than %d", d.lim.maxDepth)
		}
		if n == 0 {
			return d.got([]any{}, out), nil
		}
		d.stack = append(d.stack, bananaFrame{left: int(n), items: d.newList(int(n))})
		return out, nil
	case bananaInt, bananaLongInt:
		return d.got(digitsInt(digits, false), out), nil
	case bananaNeg, bananaLongNeg:
		return d.got(digitsInt(digits, true), out), nil
	case bananaString:
		n, ok := smallDigits(digits)
		if !ok || n > uint64(d.lim.maxString) {
			return out, d.fail(d.off-1, "string of %s bytes exceeds %d", digitString(digits), d.lim.maxString)
		}
		if n == 0 {
			return d.got([]byte{}, out), nil
		}
		d.str = d.newStr(int(n))
		d.need = int(n)
		d.state = stateString
		return out, nil
	case bananaFloat:
		// Twisted ignores digits before a FLOAT; so does this decoder.
		d.need = 8
		d.state = stateFloat
		return out, nil
	case bananaVocab:
		if d.dialect != dialectPB {
			return out, d.fail(d.off-1, "vocabulary token outside dialect pb")
		}
		n, ok := smallDigits(digits)
		w, known := vocabWord(n)
		if !ok || !known {
			return out, d.fail(d.off-1, "vocabulary token %s is not in the pb vocabulary", digitString(digits))
		}
		return d.got(append(d.newStr(len(w)), w...), out), nil
	}
	return out, d.fail(d.off-1, "invalid type byte 0x%02x", typ)
}

// got appends a finished value to the innermost open list, closing every list
// it completes; a value outside any list is a top-level expression.
func (d *bananaDecoder) got(v any, out []any) []any {
	for {
		if len(d.stack) == 0 {
			if d.lim.maxExpr > 0 && d.overCost() {
				d.fail(d.off-1, "expression costs more than %d bytes", d.lim.maxExpr)
				return out
			}
			d.start = d.off
			d.tokens = 0
			return append(out, v)
		}
		top := &d.stack[len(d.stack)-1]
		top.items = append(top.items, v)
		top.left--
		if top.left > 0 {
			return out
		}
		v = top.items
		top.items = nil
		d.stack = d.stack[:len(d.stack)-1]
	}
}

// smallDigits returns the value of digits when it fits in 63 bits.
func smallDigits(digits []byte) (uint64, bool) {
	if len(digits) > 9 {
		for _, b := range digits[9:] {
			if b != 0 {
				return 0, false
			}
		}
		digits = digits[:9]
	}
	var n uint64
	for i := len(digits) - 1; i >= 0; i-- {
		n = n<<7 | uint64(digits[i])
	}
	return n, true
}

// digitsInt returns the integer the digits hold, negated when neg: an int64
// when it fits, else a *big.Int.
func digitsInt(digits []byte, neg bool) any {
	if n, ok := smallDigits(digits); ok {
		if neg {
			return -int64(n)
		}
		return int64(n)
	}
	b := digitsBig(digits)
	if neg {
		b.Neg(b)
	}
	if b.IsInt64() {
		return b.Int64()
	}
	return b
}

func digitsBig(digits []byte) *big.Int {
	b := new(big.Int)
	var d big.Int
	for i := len(digits) - 1; i >= 0; i-- {
		b.Lsh(b, 7)
		b.Or(b, d.SetUint64(uint64(digits[i])))
	}
	return b
}

func digitString(digits []byte) string {
	if n, ok := smallDigits(digits); ok {
		return fmt.Sprint(n)
	}
	return digitsBig(digits).String()
}

// appendBanana appends the Banana encoding of v to buf. v is built from []any
// (a LIST), int, int64, *big.Int, float64, []byte and string (both a STRING of
// those bytes). With pb true, every byte string equal to a word of the pb
// vocabulary goes out as its VOCAB token, as Twisted does in dialect "pb".
// Integers take the type Twisted gives their range: INT for 0..2^31-1, NEG
// for -2^31..-1, LONGINT and LONGNEG beyond. Anything else, a string or list
// over defaultBananaLimits, an integer of magnitude 2^448 or more, or nesting
// deeper than the depth cap fails with an error matching ErrUnsendable; buf
// is then returned unchanged.
func appendBanana(buf []byte, v any, pb bool) ([]byte, error) {
	out, err := appendBananaValue(buf, v, pb, 0)
	if err != nil {
		return buf, err
	}
	return out, nil
}

func appendBananaValue(buf []byte, v any, pb bool, depth int) ([]byte, error) {
	switch v := v.(type) {
	case []any:
		if depth >= defaultBananaLimits.maxDepth {
			return buf, fmt.Errorf("%w: lists nested deeper than %d", ErrUnsendable, defaultBananaLimits.maxDepth)
		}
		if len(v) > defaultBananaLimits.maxList {
			return buf, fmt.Errorf("%w: list of %d items exceeds %d", ErrUnsendable, len(v), defaultBananaLimits.maxList)
		}
		buf = appendBananaListHead(buf, len(v))
		var err error
		for _, e := range v {
			if buf, err = appendBananaValue(buf, e, pb, depth+1); err != nil {
				return buf, err
			}
		}
		return buf, nil
	case int:
		return appendBananaInt(buf, int64(v)), nil
	case int64:
		return appendBananaInt(buf, v), nil
	case *big.Int:
		if v == nil {
			return buf, fmt.Errorf("%w: nil *big.Int", ErrUnsendable)
		}
		if v.IsInt64() {
			return appendBananaInt(buf, v.Int64()), nil
		}
		if v.BitLen() > 7*defaultBananaLimits.maxDigits {
			return buf, fmt.Errorf("%w: integer of %d bits: Banana carries at most %d", ErrUnsendable, v.BitLen(), 7*defaultBananaLimits.maxDigits)
		}
		typ := byte(bananaLongInt)
		if v.Sign() < 0 {
			typ = bananaLongNeg
		}
		words := new(big.Int).Abs(v)
		mask := big.NewInt(0x7f)
		var digit big.Int
		for words.Sign() > 0 {
			buf = append(buf, byte(digit.And(words, mask).Uint64()))
			words.Rsh(words, 7)
		}
		return append(buf, typ), nil
	case float64:
		bits := math.Float64bits(v)
		return append(buf, bananaFloat, byte(bits>>56), byte(bits>>48), byte(bits>>40), byte(bits>>32),
			byte(bits>>24), byte(bits>>16), byte(bits>>8), byte(bits)), nil
	case []byte:
		if pb {
			if i := vocabIndex(string(v)); i != 0 {
				return append(buf, byte(i), bananaVocab), nil
			}
		}
		if len(v) > defaultBananaLimits.maxString {
			return buf, fmt.Errorf("%w: string of %d bytes exceeds %d", ErrUnsendable, len(v), defaultBananaLimits.maxString)
		}
		buf = appendDigits(buf, uint64(len(v)))
		return append(append(buf, bananaString), v...), nil
	case string:
		return appendBananaString(buf, v, pb)
	}
	return buf, fmt.Errorf("%w: Banana has no form for %T", ErrUnsendable, v)
}

// appendBananaString appends s as a STRING, or as its VOCAB token when pb is
// set and s is a word of the pb vocabulary.
func appendBananaString(buf []byte, s string, pb bool) ([]byte, error) {
	if pb {
		if i := vocabIndex(s); i != 0 {
			return append(buf, byte(i), bananaVocab), nil
		}
	}
	if len(s) > defaultBananaLimits.maxString {
		return buf, fmt.Errorf("%w: string of %d bytes exceeds %d", ErrUnsendable, len(s), defaultBananaLimits.maxString)
	}
	buf = appendDigits(buf, uint64(len(s)))
	return append(append(buf, bananaString), s...), nil
}

// appendBananaListHead appends the LIST token of a list of n items, whose
// items follow it.
func appendBananaListHead(buf []byte, n int) []byte {
	return append(appendDigits(buf, uint64(n)), bananaList)
}

func appendBananaInt(buf []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= math.MaxInt32:
		return append(appendDigits(buf, uint64(v)), bananaInt)
	case v < 0 && v >= math.MinInt32:
		return append(appendDigits(buf, uint64(-v)), bananaNeg)
	case v > 0:
		return append(appendDigits(buf, uint64(v)), bananaLongInt)
	default:
		return append(appendDigits(buf, uint64(-(v+1))+1), bananaLongNeg)
	}
}

// appendDigits appends n in base 128, least significant group first; zero is
// the single digit 0x00.
func appendDigits(buf []byte, n uint64) []byte {
	if n == 0 {
		return append(buf, 0)
	}
	for n > 0 {
		buf = append(buf, byte(n&0x7f))
		n >>= 7
	}
	return buf
}
