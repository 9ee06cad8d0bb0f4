package rpc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// inlineRefObj is passed by reference.
type inlineRefObj struct{ Referenceable }

// A call whose arguments all travel inline is written by inlineArgs byte for
// byte as buildCall (encodeCall's message) writes it; arguments that need
// buildCall (a gob value, a *Ref, a function, a byte slice sent as the
// message's tail) are left to it, with the lane's buffer as it was and no
// object left exported for it.
func TestInlineArgsMatchBuildCall(t *testing.T) {
	_, client := connPair(t, &heldRoot{}, nil)
	root := client.Root()
	obj, other := &inlineRefObj{}, &inlineRefObj{}
	exported := client.exports.Len()
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
		{obj},
		{1, obj, heldRec{3, "c"}, other, obj},
	}
	for i, args := range inline {
		for _, c := range []context.Context{context.Background()} {
			a := testLane()
			if err := a.beginCall(c, root, 77, "describe", false); err != nil {
				t.Fatal(err)
			}
			if !client.inlineArgs(a, args) {
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
			// Neither is sent: each gives back what it exported.
			client.endArgs(a, false)
			client.endArgs(b, false)
			if n := client.exports.Len(); n != exported {
				t.Fatalf("args %d: %d objects exported after the calls were dropped, want %d", i, n, exported)
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
		{obj, map[string]int{"a": 1}},
		{obj, 1, root},
	} {
		l := testLane()
		if err := l.beginCall(context.Background(), root, 77, "describe", false); err != nil {
			t.Fatal(err)
		}
		before := bytes.Clone(l.buf)
		if client.inlineArgs(l, args) {
			t.Errorf("args %d (%T...): written inline", i, args[len(args)-1])
		}
		if !bytes.Equal(l.buf, before) {
			t.Errorf("args %d: the lane's buffer changed: % x, was % x", i, l.buf, before)
		}
		if len(l.args) != 0 || client.exports.Len() != exported {
			t.Errorf("args %d: %d arguments kept and %d objects exported, want 0 and %d", i, len(l.args), client.exports.Len(), exported)
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

// A call that is not sent gives back the counts of the references exported
// for it, whether its arguments went inline (a string) or through
// encodeCall (a byte slice sent as the message's tail): the peer never
// learns of them.
func TestUnsentCallGivesBackItsReferences(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, client := connPairOpts(t, &heldRoot{}, nil, WithMaxMessageSize(1<<10))
	obj := &inlineRefObj{}
	for i, args := range [][]any{
		{obj, strings.Repeat("x", 2<<10)},
		{obj, make([]byte, 2<<10)},
	} {
		err := client.Root().Call(ctx, "describe", nil, args...)
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("args %d: %v, want ErrMessageTooLarge", i, err)
		}
		if n := client.exports.Len(); n != 0 {
			t.Errorf("args %d: %d objects exported after the call was refused, want 0", i, n)
		}
	}
}
