package rpc_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateVectors = flag.Bool("vectors.update", false, "rewrite docs/vectors from their descriptions in vectors_test.go")

// vectorRoot is the root object the test vectors call (docs/vectors/README.md).
type vectorRoot struct{}

func (vectorRoot) RemoteAdd(a, b int) int { return a + b }

func (vectorRoot) RemoteSum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// vector is a complete connection: what a client sends, and what the server
// must answer.
type vector struct {
	name, about string
	client      [][]byte // transport frames after the client's preface
	lane        []string // messages expected on the server's lanes: hex from the type byte; a trailing "..." matches any rest
	goAway      string   // expected GOAWAY: "code reason", or ""
}

func dataFrame(flags byte, stream uint32, payload []byte) []byte {
	return append(frameHeader(0, flags, stream, uint32(len(payload))), payload...)
}

// gobLane encodes values with one encoder, as a lane does: the first value
// of a type carries its description.
type gobLane struct {
	buf bytes.Buffer
	enc *gob.Encoder
}

func newGobLane() *gobLane { g := &gobLane{}; g.enc = gob.NewEncoder(&g.buf); return g }

func (g *gobLane) value(v any) []byte {
	g.buf.Reset()
	if err := g.enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.Clone(g.buf.Bytes())
}

func vectors() []vector {
	g := newGobLane()
	sum123 := g.value([]int{1, 2, 3})
	sum4 := g.value([]int{4})
	r := newGobLane()
	refused := r.value([]int{1, 2})
	after := r.value([]int{5})
	return []vector{
		{
			name:  "call-scalar",
			about: "a two-way call add(2, 3) with inline scalar arguments; the answer is the inline scalar 5",
			client: [][]byte{
				dataFrame(1, 1, append(append([]byte{'L'}, settingsMsg(64)...), callMsg(1, 0, "add", intArg(2), intArg(3))...)),
			},
			lane: []string{"0601018008", "020105020a"},
		},
		{
			name:  "call-gob",
			about: "two calls sum([]int) on one lane: the first gob value carries the type's description, the second refers to it",
			client: [][]byte{
				dataFrame(1, 1, append([]byte{'L'}, settingsMsg(64)...)),
				dataFrame(0, 1, msg(1, []byte{0}, uv(1), uv(0), str("sum"), uv(1), []byte{1}, sum123)),
				dataFrame(0, 1, msg(1, []byte{0}, uv(2), uv(0), str("sum"), uv(1), []byte{1}, sum4)),
			},
			lane: []string{"0601018008", "020105020c", "0202050208"},
		},
		{
			name:  "refused-gob",
			about: "a call of an unknown method with a gob argument is answered with ERROR code 2 (ErrNoSuchMethod), and its gob value must still be consumed: the next call's value uses the type described in it",
			client: [][]byte{
				dataFrame(1, 1, append([]byte{'L'}, settingsMsg(64)...)),
				dataFrame(0, 1, msg(1, []byte{0}, uv(1), uv(0), str("nosuch"), uv(1), []byte{1}, refused)),
				dataFrame(0, 1, msg(1, []byte{0}, uv(2), uv(0), str("sum"), uv(1), []byte{1}, after)),
			},
			lane: []string{"0601018008", "030102...", "020205020a"},
		},
		{
			name:  "oneway-and-names",
			about: "a one-way call with a non-zero request id (ignored: no answer), then a call by the exposed name \"Add\" (\"add\" is its lower-camel form)",
			client: [][]byte{
				dataFrame(1, 1, append(append([]byte{'L'}, settingsMsg(64)...), msg(1, []byte{1}, uv(7), uv(0), str("add"), uv(2), intArg(1), intArg(1))...)),
				dataFrame(0, 1, msg(1, []byte{0}, uv(2), uv(0), str("Add"), uv(2), intArg(3), intArg(4))),
			},
			lane: []string{"0601018008", "020205020e"},
		},
		{
			name:  "transport-violation",
			about: "a PING with a 7-byte payload: exactly one GOAWAY, PROTOCOL_ERROR, with the reason",
			client: [][]byte{
				append(frameHeader(2, 0, 0, 7), make([]byte, 7)...),
			},
			goAway: "1 PING with 7-byte payload, want 8",
		},
		{
			name:  "rpc-violation",
			about: "a lane message of unknown type 9: GOAWAY PROTOCOL_ERROR with the rpc layer's reason",
			client: [][]byte{
				dataFrame(1, 1, append(append([]byte{'L'}, settingsMsg(64)...), msg(9)...)),
			},
			goAway: "1 rpc: protocol violation: unknown message type 9",
		},
	}
}

// The file format: comment lines start with '#'; "C <hex>" is a frame the
// client sends (its preface first); "L <hex>" a message the server sends on
// one of its lanes, from the type byte ("..." at the end: any rest), in any
// order;
// "G <code> <reason>" the GOAWAY that ends the connection.
func (v vector) format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s\n", v.name, v.about)
	fmt.Fprintf(&b, "C %x\n", clientPreface())
	for _, f := range v.client {
		fmt.Fprintf(&b, "C %x\n", f)
	}
	for _, m := range v.lane {
		fmt.Fprintf(&b, "L %s\n", m)
	}
	if v.goAway != "" {
		fmt.Fprintf(&b, "G %s\n", v.goAway)
	}
	return b.String()
}

func vectorDir() string { return filepath.Join("..", "docs", "vectors") }

// TestVectors replays every connection of docs/vectors against a server
// offering vectorRoot and checks what the server sends.
func TestVectors(t *testing.T) {
	if *updateVectors {
		for _, v := range vectors() {
			if err := os.WriteFile(filepath.Join(vectorDir(), v.name+".hex"), []byte(v.format()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(vectorDir(), "*.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	_, addr := secServe(t, vectorRoot{})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { replayVector(t, addr, f) })
	}
}

func replayVector(t *testing.T, addr, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var want []string
	wantGoAway := ""
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		tag, rest, _ := strings.Cut(line, " ")
		switch tag {
		case "C":
			b, err := hex.DecodeString(rest)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			out = append(out, b...)
		case "L":
			want = append(want, rest)
		case "G":
			wantGoAway = rest
		default:
			t.Fatalf("line %d: unknown tag %q", i+1, tag)
		}
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go nc.Write(out)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	var pre [24]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pre[:], []byte("\x89FFLY\r\n\x1a\x01\x02")) {
		t.Fatalf("server preface %x", pre)
	}
	lanes := map[uint32][]byte{} // the server's lanes, as received
	var got []string
	for len(got) < len(want) || wantGoAway != "" {
		var h [10]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), len(want), err)
		}
		body := make([]byte, binary.BigEndian.Uint32(h[6:]))
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		id := binary.BigEndian.Uint32(h[2:])
		switch {
		case h[0] == 3:
			code := binary.BigEndian.Uint32(body[4:8])
			if g := strconv.Itoa(int(code)) + " " + string(body[8:]); g != wantGoAway {
				t.Fatalf("GOAWAY %q, want %q", g, wantGoAway)
			}
			wantGoAway = ""
		case h[0] == 0 && h[1]&4 == 0 && id%2 == 0:
			lanes[id] = append(lanes[id], body...)
			got = got[:0]
			for _, l := range lanes {
				got = append(got, parseLane(t, l)...)
			}
		}
	}
	// Answers to different calls are not ordered: match each expected
	// message with one received.
	used := make([]bool, len(got))
	for _, w := range want {
		prefix, open := strings.CutSuffix(w, "...")
		found := false
		for i, g := range got {
			if !used[i] && (g == w || open && strings.HasPrefix(g, prefix)) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no message %s among %v", w, got)
		}
	}
}

// parseLane returns the whole messages of a lane's bytes, in hex from the
// type byte.
func parseLane(t *testing.T, b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if b[0] != 'L' {
		t.Fatalf("lane starts with %#x", b[0])
	}
	b = b[1:]
	var ms []string
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n {
			break
		}
		ms = append(ms, hex.EncodeToString(b[4:4+n]))
		b = b[4+n:]
	}
	return ms
}
