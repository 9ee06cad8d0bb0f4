package rpc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/transport"
)

var writeCorpus = flag.Bool("write-corpus", false, "write the fuzz targets' seeds to testdata/fuzz")

// fuzzRoot has methods with parameters of many shapes for FuzzArgs.
type fuzzRoot struct{ rpc.Referenceable }

// FuzzPoint is a struct with nested, recursive, map and slice fields.
type FuzzPoint struct {
	X, Y int
	Name string
	Tags []string
	M    map[string]int
	P    *FuzzPoint
	F    float64
	B    []byte
	A    [3]int16
}

func (*fuzzRoot) RemoteEcho(x int) int                             { return x }
func (*fuzzRoot) RemotePoint(p FuzzPoint) int                      { return p.X + len(p.Tags) }
func (*fuzzRoot) RemotePtr(p *FuzzPoint) int                       { return 1 }
func (*fuzzRoot) RemoteList(xs []string, m map[string]float64) int { return len(xs) + len(m) }
func (*fuzzRoot) RemoteVariadic(prefix string, xs ...int) int      { return len(xs) }
func (*fuzzRoot) RemoteMixed(b []byte, u uint8, f float32, ok bool) int {
	return len(b)
}
func (*fuzzRoot) RemoteRef(r *rpc.Ref) int                   { return 0 }
func (*fuzzRoot) RemoteNested(m map[string][]*FuzzPoint) int { return len(m) }

// fuzzMethods are the names FuzzArgs picks from.
var fuzzMethods = []string{"echo", "point", "ptr", "list", "variadic", "mixed", "ref", "nested", "Echo", "nosuch"}

// newFuzzServer returns a server with small limits, so short inputs reach
// them.
func newFuzzServer(f *testing.F) *rpc.Server {
	srv, err := rpc.NewServer(&fuzzRoot{}, rpc.WithMaxMessageSize(1<<16), rpc.WithMaxHandlers(4))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	return srv
}

// checkID is the request id of the call that checks the server still serves.
const checkID = 1<<40 + 1

// runFuzzLane connects a raw peer to srv over a pipe and writes input as the
// whole of one lane (preface included), then half-closes it. The server must
// not panic or hang; when the lane is read, it must either have closed the
// connection with a *transport.ProtocolError or still answer: the request answerID
// (if not 0) and a well-formed call on a new lane.
func runFuzzLane(t *testing.T, srv *rpc.Server, input []byte, answerID uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	type served struct {
		c   *rpc.Conn
		err error
	}
	ch := make(chan served, 1)
	go func() {
		c, err := srv.ServeConn(ctx, sc)
		ch <- served{c, err}
	}()
	p, err := newRawPeer(ctx, cc, nil)
	if err != nil {
		t.Fatalf("transport handshake: %v", err)
	}
	defer p.close()
	s := <-ch
	if s.err != nil {
		t.Fatalf("ServeConn: %v", s.err)
	}
	defer s.c.Close()

	st, err := p.sess.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(input) // fails once the server gave up on the connection
	st.CloseWrite()
	st.SetReadDeadline(time.Now().Add(15 * time.Second))
	// The server never writes on our lane: the read ends when it is done
	// with the lane (EOF) or with the connection.
	if _, err := io.Copy(io.Discard, st); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server did not finish reading the lane")
		}
		mustProtocolError(t, s.c)
		return
	}
	if answerID != 0 {
		if _, ok := p.waitAnswer(ctx, answerID); !ok {
			mustProtocolError(t, s.c)
			return
		}
	}
	l, err := p.lane(ctx)
	if err != nil {
		mustProtocolError(t, s.c)
		return
	}
	l.Write(callMsg(checkID, 0, "echo", intArg(5)))
	if _, ok := p.waitAnswer(ctx, checkID); !ok {
		mustProtocolError(t, s.c)
	}
}

// mustProtocolError waits for c to end and checks that it ended for a
// protocol violation.
func mustProtocolError(t *testing.T, c *rpc.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the connection neither serves nor ends")
	}
	var pe *transport.ProtocolError
	if err := c.Err(); !errors.As(err, &pe) || !errors.Is(err, rpc.ErrProtocol) || !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("the connection ended with %v, want a *transport.ProtocolError matching ErrProtocol", err)
	}
}

// envelopeSeeds are lanes of valid and broken messages.
func envelopeSeeds() [][]byte {
	lane := func(msgs ...[]byte) []byte { return append([]byte{'L'}, bytes.Join(msgs, nil)...) }
	var gobArg bytes.Buffer
	gob.NewEncoder(&gobArg).Encode(FuzzPoint{X: 1, Tags: []string{"a"}})
	return [][]byte{
		lane(callMsg(1, 0, "echo", intArg(3))),
		lane(msg(1, []byte{1}, uv(0), uv(0), str("echo"), uv(1), intArg(-9))),                         // one-way
		lane(msg(1, []byte{2}, uv(2), uv(0), str("echo"), uv(uint64(time.Second)), uv(1), intArg(1))), // deadline
		lane(callMsg(3, 0, "point", []byte{1}, gobArg.Bytes())),
		lane(callMsg(4, 0, "mixed", []byte{5, 6, 2, 'h', 'i'}, []byte{5, 3, 7}, []byte{5, 4, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, []byte{5, 1, 1})),
		lane(callMsg(5, 0, "variadic", []byte{5, 5, 1, 'p'}, intArg(1), intArg(2))),
		lane(callMsg(6, 0, "ref", []byte{3, 9})),
		lane(callMsg(7, 0, "ref", []byte{4, 9})),
		lane(callMsg(8, 9, "echo", intArg(1))),
		lane(msg(2, uv(77), []byte{0})), // a reply nobody asked for
		lane(msg(2, uv(78), []byte{3, 5})),
		lane(msg(3, uv(79), []byte{4, 0}, str("T"), str("m"), str(""))),
		lane(msg(4, uv(1), []byte{16})),
		lane(releaseMsg(1, 1)),
		lane(releaseMsg(5, 1), releaseMsg(5, 1), releaseMsg(5, 1), releaseMsg(5, 1)),
		lane(binary.BigEndian.AppendUint32(nil, 0)),
		lane(binary.BigEndian.AppendUint32(nil, math.MaxUint32)),
		lane(msg(9)),
		[]byte("X"),
		lane(callMsg(10, 0, "echo", []byte{5, 1, 2})),
		lane(callMsg(11, 0, "echo", []byte{1}, []byte{0x03, 0x04, 0x00, 0x02})),
	}
}

// FuzzEnvelope feeds arbitrary bytes as a peer's lane: message framing,
// envelopes of every message type, value kinds, scalars and gob sections.
func FuzzEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds() {
		f.Add(s)
	}
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, lane []byte) {
		runFuzzLane(t, srv, lane, 0)
	})
}

// argsSeeds are valid argument sections (kinds, inline scalars, gob values)
// for the methods of fuzzMethods.
func argsSeeds() []struct {
	method, nargs uint8
	section       []byte
} {
	enc := func(kinds []byte, vals ...any) []byte {
		var b bytes.Buffer
		b.Write(kinds)
		e := gob.NewEncoder(&b)
		for _, v := range vals {
			if err := e.Encode(v); err != nil {
				panic(err)
			}
		}
		return b.Bytes()
	}
	p := FuzzPoint{X: 1, Y: -2, Name: "n", Tags: []string{"a", "b"}, M: map[string]int{"k": 1}, P: &FuzzPoint{X: 3}, F: 1.5, B: []byte{1}, A: [3]int16{1, 2, 3}}
	return []struct {
		method, nargs uint8
		section       []byte
	}{
		{0, 1, intArg(42)},
		{0, 1, enc([]byte{1}, 42)},
		{1, 1, enc([]byte{1}, p)},
		{2, 1, enc([]byte{1}, &p)},
		{2, 1, []byte{2}},
		{3, 2, enc([]byte{1, 1}, []string{"x", "y"}, map[string]float64{"pi": 3.14})},
		{4, 3, append(append([]byte{5, 5, 1, 'p'}, intArg(1)...), enc([]byte{1}, 2)...)},
		{5, 4, append([]byte{5, 6, 1, 0xff, 5, 3, 200, 1, 5, 4}, append(binary.BigEndian.AppendUint64(nil, math.Float64bits(0.5)), 5, 1, 0)...)},
		{6, 1, []byte{3, 1}},
		{7, 1, enc([]byte{1}, map[string][]*FuzzPoint{"a": {&p, {Y: 2}}})},
		// Records (scalar kind 7): fields by name into a struct, into a
		// pointer, into an int; a field that does not fit (Tags).
		{1, 1, []byte{5, 7, 3, 1, 'X', 2, 4, 4, 'N', 'a', 'm', 'e', 5, 1, 'n', 1, 'F', 4, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{2, 1, []byte{5, 7, 1, 1, 'Y', 3, 9}},
		{0, 1, []byte{5, 7, 1, 1, 'X', 1, 1}},
		{1, 1, []byte{5, 7, 2, 4, 'T', 'a', 'g', 's', 2, 2, 1, 'Q', 5, 0}},
	}
}

// FuzzArgs sends a well-formed call envelope to one of fuzzRoot's methods
// with an arbitrary argument section: kinds, inline scalars and gob values
// decoded into the method's parameter types.
func FuzzArgs(f *testing.F) {
	for _, s := range argsSeeds() {
		f.Add(s.method, s.nargs, s.section)
	}
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, method, nargs uint8, section []byte) {
		name := fuzzMethods[int(method)%len(fuzzMethods)]
		lane := append([]byte{'L'}, msg(1, []byte{0}, uv(1), uv(0), str(name), uv(uint64(nargs%8)), section)...)
		runFuzzLane(t, srv, lane, 1)
	})
}

// Parameter types for FuzzGobArgs: embedded pointers and values,
// interfaces, recursive and nested types, and a type that decodes itself.
type (
	FuzzInner struct {
		A int
		S string
	}
	FuzzEmbedP struct {
		*FuzzInner
		B string
	}
	FuzzEmbedV struct {
		FuzzInner
		C []int
	}
	FuzzTree struct {
		V    int
		Kids []*FuzzTree
		Next *FuzzTree
		M    map[string]*FuzzTree
	}
	FuzzIface struct {
		X any
		E error
		L []any
	}
	FuzzKey  struct{ K, L int8 }
	FuzzDeep struct {
		M   map[FuzzKey][][]*FuzzEmbedP
		Arr [3]FuzzEmbedV
		PP  **FuzzInner
		T   *FuzzTree
	}
)

// gobRoot has one method per parameter type of FuzzGobArgs.
type gobRoot struct{ rpc.Referenceable }

func (*gobRoot) RemoteEmbedP(v FuzzEmbedP) int { return len(v.B) }
func (*gobRoot) RemoteEmbedV(v FuzzEmbedV) int { return v.A }
func (*gobRoot) RemoteTree(v *FuzzTree) int    { return 1 }
func (*gobRoot) RemoteIface(v FuzzIface) int   { return len(v.L) }
func (*gobRoot) RemoteAny(v any) int           { return 1 }
func (*gobRoot) RemoteDeep(v FuzzDeep) int     { return len(v.M) }
func (*gobRoot) RemoteGobbed(v Gobbed) int     { return v.N }
func (*gobRoot) RemotePair(a FuzzEmbedP, b *FuzzTree) int {
	return 2
}

// gobMethods are the names FuzzGobArgs picks from, with their arities.
var gobMethods = []struct {
	name  string
	nargs uint64
}{{"embedP", 1}, {"embedV", 1}, {"tree", 1}, {"iface", 1}, {"any", 1}, {"deep", 1}, {"gobbed", 1}, {"pair", 2}}

// fuzzGobSender is another struct type with the promoted fields' names,
// which gob decodes into FuzzEmbedP by way of its nil embedded pointer.
type fuzzGobSender struct {
	A int
	B string
	S string
	C []int
}

// gobArgsSeeds are gob streams of values of the parameter types and of
// other types that share their field names, one seed per method.
func gobArgsSeeds() []struct {
	method  uint8
	section []byte
} {
	gob.Register(FuzzInner{})
	gob.Register(&FuzzTree{})
	gob.Register(map[string]int{})
	enc := func(vals ...any) []byte {
		var b bytes.Buffer
		b.Write(bytes.Repeat([]byte{1}, len(vals)))
		e := gob.NewEncoder(&b)
		for _, v := range vals {
			if err := e.Encode(v); err != nil {
				panic(err)
			}
		}
		return b.Bytes()
	}
	in := &FuzzInner{A: 1, S: "s"}
	tree := &FuzzTree{V: 1, Kids: []*FuzzTree{{V: 2}, {V: 3, M: map[string]*FuzzTree{"x": {V: 4}}}}, Next: &FuzzTree{V: 5}}
	sender := fuzzGobSender{A: 1, B: "b", S: "s", C: []int{1}}
	return []struct {
		method  uint8
		section []byte
	}{
		{0, enc(FuzzEmbedP{FuzzInner: in, B: "b"})},
		{0, enc(sender)},
		{1, enc(FuzzEmbedV{FuzzInner: *in, C: []int{1, 2}})},
		{1, enc(sender)},
		{2, enc(tree)},
		{3, enc(FuzzIface{X: *in, E: nil, L: []any{tree, map[string]int{"a": 1}}})},
		{4, enc(struct{ X any }{X: *in})},
		{5, enc(FuzzDeep{M: map[FuzzKey][][]*FuzzEmbedP{{1, 2}: {{{FuzzInner: in, B: "d"}}}}, PP: &in, T: tree})},
		{5, enc(struct{ Arr [2]fuzzGobSender }{Arr: [2]fuzzGobSender{sender}})},
		{6, enc(Gobbed{N: 4})},
		{6, enc(struct {
			N int
			X []int
		}{N: 1})},
		{7, enc(sender, tree)},
	}
}

// FuzzGobArgs sends calls whose arguments are gob values (fuzzed) into
// parameter types with embedded pointers, interfaces, recursive and nested
// types: whatever gob makes of the bytes, including a panic, the server
// fails the call or closes the connection as a protocol violation, and
// goes on serving.
func FuzzGobArgs(f *testing.F) {
	for _, s := range gobArgsSeeds() {
		f.Add(s.method, s.section)
	}
	srv, err := rpc.NewServer(&gobRoot{}, rpc.WithMaxMessageSize(1<<16), rpc.WithMaxHandlers(4))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, method uint8, section []byte) {
		m := gobMethods[int(method)%len(gobMethods)]
		lane := append([]byte{'L'}, msg(1, []byte{0}, uv(1), uv(0), str(m.name), uv(m.nargs), section)...)
		runFuzzLane(t, srv, lane, 1)
	})
}

// TestWriteFuzzCorpus writes the seeds to testdata/fuzz with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz")
	}
	write := func(target string, i int, vals ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, v := range vals {
			body += v + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range envelopeSeeds() {
		write("FuzzEnvelope", i, fmt.Sprintf("[]byte(%q)", s))
	}
	for i, s := range argsSeeds() {
		write("FuzzArgs", i, fmt.Sprintf("byte(%q)", rune(s.method)), fmt.Sprintf("byte(%q)", rune(s.nargs)), fmt.Sprintf("[]byte(%q)", s.section))
	}
	for i, s := range gobArgsSeeds() {
		write("FuzzGobArgs", i, fmt.Sprintf("byte(%q)", rune(s.method)), fmt.Sprintf("[]byte(%q)", s.section))
	}
}
