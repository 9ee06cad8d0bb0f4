package rpc

import (
	"bytes"
	"context"
	"testing"
)

// A call whose arguments all travel inline is written by inlineArgs byte for
// byte as buildCall (encodeCall's message) writes it; arguments that need
// buildCall (a gob value, a reference, a function, a byte slice sent as the
// message's tail) are left to it, with the lane's buffer as it was.
func TestInlineArgsMatchBuildCall(t *testing.T) {
	_, client := connPair(t, &heldRoot{}, nil)
	root := client.Root()
	type big struct {
		N    int
		Name string
		Ok   bool
	}
	inline := [][]any{
		nil,
		{1, -2, int64(3), int32(-4), uint64(5), uint32(6), uint(7)},
		{"", "a string", true, false, 1.5, []byte("bytes"), []byte{}},
		{nil, (*heldRec)(nil), []int(nil), map[string]int(nil), []byte(nil)},
		{heldRec{1, "a"}, &heldRec{2, "b"}, big{3, "c", true}},
		{make([]byte, 1<<10), 1 << 62, "é"},
	}
	for i, args := range inline {
		for _, c := range []context.Context{context.Background()} {
			a := testLane()
			if err := a.beginCall(c, root, 77, "describe", false); err != nil {
				t.Fatal(err)
			}
			if !a.inlineArgs(args) {
				t.Fatalf("args %d (%v): not written inline", i, args)
			}
			b := testLane()
			if err := b.beginCall(c, root, 77, "describe", false); err != nil {
				t.Fatal(err)
			}
			if err := client.buildCall(b, args); err != nil {
				t.Fatal(err)
			}
			if !sameCall(a.buf, b.buf) {
				t.Fatalf("args %d (%v):\ninline % x\nbuilt  % x", i, args, a.buf, b.buf)
			}
		}
	}
	for i, args := range [][]any{
		{map[string]int{"a": 1}},
		{1, []int{1}},
		{root},
		{func() {}},
		{new(any)},
		{"x", make([]byte, 32<<10)},
	} {
		l := testLane()
		if err := l.beginCall(context.Background(), root, 77, "describe", false); err != nil {
			t.Fatal(err)
		}
		before := bytes.Clone(l.buf)
		if l.inlineArgs(args) {
			t.Errorf("args %d (%T...): written inline", i, args[len(args)-1])
		}
		if !bytes.Equal(l.buf, before) {
			t.Errorf("args %d: the lane's buffer changed: % x, was % x", i, l.buf, before)
		}
	}
}

// testLane is a lane that is never sent on, to build messages in.
func testLane() *outLane {
	l := &outLane{}
	l.coder.Init(&l.buf)
	return l
}

// sameCall compares two call messages built on lanes, past the headroom and
// the length prefix (set when the message is sent).
func sameCall(a, b []byte) bool {
	const skip = laneHeadroom + lengthSize
	return len(a) >= skip && len(b) >= skip && bytes.Equal(a[skip:], b[skip:])
}
