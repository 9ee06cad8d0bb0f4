package pb

import (
	"fmt"
	"math/big"
	"strings"
)

// The "pb" dialect's vocabulary (twisted.spread.pb's dialect table, PB-WIRE.md
// §2.4). In dialect "pb" a byte string equal to one of these words may travel
// as the token <index> 0x87; Twisted always sends it that way, for commands and
// data alike. Index 0 is unused.
const vocabSize = 32

// vocabWords is indexed by token number. It is a read-only table.
var vocabWords = [vocabSize]string{
	1:  "None",
	2:  "class",
	3:  "dereference",
	4:  "reference",
	5:  "dictionary",
	6:  "function",
	7:  "instance",
	8:  "list",
	9:  "module",
	10: "persistent",
	11: "tuple",
	12: "unpersistable",
	13: "copy",
	14: "cache",
	15: "cached",
	16: "remote",
	17: "local",
	18: "lcache",
	19: "version",
	20: "login",
	21: "password",
	22: "challenge",
	23: "logged_in",
	24: "not_logged_in",
	25: "cachemessage",
	26: "message",
	27: "answer",
	28: "error",
	29: "decref",
	30: "decache",
	31: "uncache",
}

// vocabWord returns the word of token index i, or false for an index outside
// the table (Twisted fails such a token with a KeyError and drops the
// connection).
func vocabWord(i uint64) (string, bool) {
	if i == 0 || i >= vocabSize {
		return "", false
	}
	return vocabWords[i], true
}

// vocabIndex returns the token index of the word s, or 0 when s is not in the
// vocabulary. The switch compiles to a search without allocating when s is a
// string([]byte) conversion.
func vocabIndex(s string) int {
	switch s {
	case "None":
		return 1
	case "class":
		return 2
	case "dereference":
		return 3
	case "reference":
		return 4
	case "dictionary":
		return 5
	case "function":
		return 6
	case "instance":
		return 7
	case "list":
		return 8
	case "module":
		return 9
	case "persistent":
		return 10
	case "tuple":
		return 11
	case "unpersistable":
		return 12
	case "copy":
		return 13
	case "cache":
		return 14
	case "cached":
		return 15
	case "remote":
		return 16
	case "local":
		return 17
	case "lcache":
		return 18
	case "version":
		return 19
	case "login":
		return 20
	case "password":
		return 21
	case "challenge":
		return 22
	case "logged_in":
		return 23
	case "not_logged_in":
		return 24
	case "cachemessage":
		return 25
	case "message":
		return 26
	case "answer":
		return 27
	case "error":
		return 28
	case "decref":
		return 29
	case "decache":
		return 30
	case "uncache":
		return 31
	}
	return 0
}

// Dialect negotiation (PB-WIRE.md §2.4). The server speaks first:
//
//	server → client  ['pb', 'none']   the dialects it knows, as a LIST of STRINGs
//	client → server  'pb'             its choice, a bare STRING
//
// Neither message uses the vocabulary. The client answers with the first
// dialect of the offer it knows and selects it; the server checks that the
// client's first expression is one of its dialects and selects it. Then each
// side's broker sends ['version', 6] in the chosen dialect: the client right
// after its choice (a Twisted client follows it with its first call in the
// same write), the server right after receiving the choice. A Twisted client
// sends nothing before the offer arrives; a client may also send its choice
// without waiting, and the server accepts it either way.

// Dialect names.
const (
	dialectNamePB   = "pb"
	dialectNameNone = "none"
)

// bananaServerHello returns the server's first bytes: the offer
// ['pb', 'none'], exactly as Twisted sends it (02 80 02 82 70 62 04 82 6e 6f
// 6e 65).
func bananaServerHello() []byte {
	return []byte{0x02, bananaList,
		0x02, bananaString, 'p', 'b',
		0x04, bananaString, 'n', 'o', 'n', 'e'}
}

// chooseDialect is the client's side of negotiation: given the server's offer
// (the first expression the client decodes), it returns the name of the
// first dialect in it that this package knows, "pb" or "none". The client
// sends that name as a bare STRING, appendBanana(buf, name, false), and calls
// setDialect(string(name) == "pb") on its decoder. An offer that is not a
// list of strings, or that names no known dialect, is an error matching
// ErrProtocol (Twisted's client closes the connection).
func chooseDialect(offer []any) ([]byte, error) {
	for _, e := range offer {
		b, ok := e.([]byte)
		if !ok {
			return nil, &BananaError{Reason: fmt.Sprintf("dialect offer holds a %s, not a string", bananaKind(e))}
		}
		if s := string(b); s == dialectNamePB || s == dialectNameNone {
			return []byte(s), nil
		}
	}
	return nil, &BananaError{Reason: fmt.Sprintf("dialect offer %s names no known dialect", formatOffer(offer))}
}

// acceptDialect is the server's side of negotiation: given the client's first
// expression, it reports whether the client chose "pb" (true) or "none"
// (false). Anything else is an error matching ErrProtocol (Twisted's server
// closes the connection). The server then calls setDialect(pb) on its decoder,
// feed(nil) to decode what arrived after the choice, and sends ['version', 6].
func acceptDialect(choice any) (pb bool, err error) {
	b, ok := choice.([]byte)
	if !ok {
		return false, &BananaError{Reason: fmt.Sprintf("dialect choice is a %s, not a string", bananaKind(choice))}
	}
	switch string(b) {
	case dialectNamePB:
		return true, nil
	case dialectNameNone:
		return false, nil
	}
	return false, &BananaError{Reason: fmt.Sprintf("client chose unknown dialect %q", b)}
}

// bananaKind names the Banana type of a decoded value, for errors.
func bananaKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case []byte:
		return "string"
	case int64, *big.Int:
		return "integer"
	case float64:
		return "float"
	}
	return fmt.Sprintf("%T", v)
}

func formatOffer(offer []any) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range offer {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", e)
	}
	b.WriteByte(']')
	return b.String()
}
